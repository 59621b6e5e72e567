// A small harness for tests that run as every rank of an MPI job (ctest
// starts them with mpiexec): a plain main rather than GoogleTest, because
// every rank must run every check and agree on the verdict. Checks count
// failures on this rank; after each case the ranks sum their counts over
// MPI_COMM_WORLD, rank 0 prints one line per case, and RunCases returns the
// number of failed cases (the caller then MPI_Aborts, so a rank stuck in a
// collective cannot hang the job).
#pragma once

#include <mpi.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "common/comm/communicator.h"
#include "common/comm/mpi_runtime.h"

namespace chorus::comm::testing {

inline int g_rank = 0;
inline int g_world = 1;
inline int g_failures = 0;  // in the current case, on this rank

inline void Fail(const std::string& where, const std::string& what) {
  ++g_failures;
  std::ostringstream line;
  line << "  FAILED on rank " << g_rank << " of " << g_world << " at " << where << ": " << what << "\n";
  std::cerr << line.str() << std::flush;
}

#define CHECK_TRUE(cond, what)                                                          \
  do {                                                                                  \
    if (!(cond)) ::chorus::comm::testing::Fail(std::string(__FILE__ ":") + std::to_string(__LINE__), (what)); \
  } while (0)

#define CHECK_OK(status_expr, what)                                                     \
  do {                                                                                  \
    ::chorus::Status _st = (status_expr);                                               \
    if (!_st.ok()) ::chorus::comm::testing::Fail(std::string(__FILE__ ":") + std::to_string(__LINE__), \
                                                 std::string(what) + ": " + _st.ToString()); \
  } while (0)

#define CHECK_CODE(status_expr, want_code, what)                                        \
  do {                                                                                  \
    ::chorus::Status _st = (status_expr);                                               \
    if (_st.code() != (want_code))                                                      \
      ::chorus::comm::testing::Fail(std::string(__FILE__ ":") + std::to_string(__LINE__), \
           std::string(what) + ": expected " + StatusCodeName(want_code) + ", got " + _st.ToString()); \
  } while (0)

// Same dtype and shape; integers exactly, floating point within rtol/atol.
inline void CheckTensorEq(const at::Tensor& actual_in, const at::Tensor& expected_in, const std::string& what,
                          double rtol = 1e-6, double atol = 1e-6) {
  const at::Tensor actual = actual_in.cpu(), expected = expected_in.cpu();
  bool same = actual.scalar_type() == expected.scalar_type() && actual.sizes() == expected.sizes();
  if (same) {
    same = c10::isIntegralType(actual.scalar_type(), true)
               ? torch::equal(actual, expected)
               : torch::allclose(actual.to(torch::kFloat64), expected.to(torch::kFloat64), rtol, atol);
  }
  if (!same) {
    std::ostringstream os;
    os << what << "\n  actual:   " << actual.reshape(-1).slice(0, 0, 12) << "\n  expected: "
       << expected.reshape(-1).slice(0, 0, 12);
    Fail("tensor", os.str());
  }
}

// Initializes MPI and this harness's rank and world size; nullopt (after
// saying why) when MPI cannot start.
inline std::optional<WorldInfo> StartWorld() {
  auto world = MpiRuntime::Initialize();
  if (!world.ok()) {
    std::cerr << "MpiRuntime::Initialize: " << world.status().ToString() << std::endl;
    return std::nullopt;
  }
  g_rank = world->rank;
  g_world = world->world_size;
  return *world;
}

struct Case {
  const char* name;
  void (*fn)(Communicator&, const WorldInfo&);
};

// Runs every case on this rank; returns how many failed on any rank.
inline int RunCases(const std::vector<Case>& cases, Communicator& comm, const WorldInfo& world) {
  int failed_cases = 0;
  for (const auto& tc : cases) {
    g_failures = 0;
    const double start = MPI_Wtime();
    try {
      tc.fn(comm, world);
    } catch (const std::exception& e) {
      Fail(tc.name, std::string("exception: ") + e.what());
    }
    int total = 0;
    MPI_Allreduce(&g_failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (total != 0) ++failed_cases;
    if (g_rank == 0) {
      std::printf("[%s] %s (%d ranks, %.2f s)%s\n", total == 0 ? "  OK  " : "FAILED", tc.name, g_world,
                  MPI_Wtime() - start, total == 0 ? "" : (" " + std::to_string(total) + " failed checks").c_str());
      std::fflush(stdout);
    }
  }
  if (g_rank == 0) {
    std::printf("%s: %d of %zu tests passed on %d ranks\n", failed_cases == 0 ? "PASSED" : "FAILED",
                static_cast<int>(cases.size()) - failed_cases, cases.size(), g_world);
    std::fflush(stdout);
  }
  return failed_cases;
}

}  // namespace chorus::comm::testing
