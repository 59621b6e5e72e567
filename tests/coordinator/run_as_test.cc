// run_as: the account is resolved from the password database (root and
// unknown users refused); a local launch runs as it (user, groups, HOME) and
// owns its directory while the coordinator's files stay out of its reach; a
// Slurm launch asks sbatch for the account. The launches need root to switch
// users and are skipped without it (CI runs as root).
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "common/util/fs.h"
#include "coordinator/run_as.h"
#include "coordinator/training/local_launcher.h"
#include "coordinator/training/slurm_launcher.h"
#include "tests/coordinator/coordinator_test_util.h"

namespace chorus::coordinator {
namespace {

using testing::TempDir;

uid_t OwnerOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_uid : static_cast<uid_t>(-1);
}

TEST(RunAs, ResolvesAnUnprivilegedAccountAndRefusesRootAndStrangers) {
  auto none = ResolveRunAs("");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->enabled());
  EXPECT_TRUE(none->Environment().empty());

  struct passwd* expected = ::getpwnam("nobody");
  ASSERT_NE(expected, nullptr) << "this host has no user nobody";
  auto nobody = ResolveRunAs("nobody");
  ASSERT_TRUE(nobody.ok()) << nobody.status().ToString();
  EXPECT_TRUE(nobody->enabled());
  EXPECT_EQ(nobody->uid, expected->pw_uid);
  EXPECT_EQ(nobody->gid, expected->pw_gid);
  EXPECT_FALSE(nobody->groups.empty());
  const auto env = nobody->Environment();
  EXPECT_NE(std::find(env.begin(), env.end(), std::make_pair(std::string("HOME"), std::string(expected->pw_dir))),
            env.end());

  auto root = ResolveRunAs("root");
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(root.status().message().find("uid 0"), std::string::npos);
  auto stranger = ResolveRunAs("no-such-chorus-user");
  ASSERT_FALSE(stranger.ok());
  EXPECT_EQ(stranger.status().code(), StatusCode::kNotFound);
  EXPECT_NE(stranger.status().message().find("no-such-chorus-user"), std::string::npos);
}

TEST(RunAs, ALocalLaunchRunsAsTheAccountAndOwnsOnlyItsOwnDirectory) {
  if (::geteuid() != 0) GTEST_SKIP() << "switching users needs root";
  auto nobody = ResolveRunAs("nobody");
  ASSERT_TRUE(nobody.ok());
  TempDir tmp;  // 0755 under /tmp: the account may enter it
  const std::string state = tmp.path() + "/state", run_dir = state + "/jobs/1";
  ASSERT_TRUE(MakeDirs(run_dir).ok());
  ASSERT_EQ(::chmod(state.c_str(), 0700), 0);
  ASSERT_TRUE(OpenForTraversal(state).ok());
  ASSERT_TRUE(OpenForTraversal(state + "/jobs").ok());
  ASSERT_TRUE(AtomicWriteFile(state + "/jobs.db", "the coordinator's own\n").ok());
  ASSERT_EQ(::chmod((state + "/jobs.db").c_str(), 0600), 0);
  ASSERT_TRUE(AtomicWriteFile(run_dir + "/job.yaml", "name: mine\n").ok());  // written by the coordinator

  LocalLauncherOptions options;
  options.run_as = *nobody;
  LocalLauncher launcher(options);
  LaunchSpec spec;
  spec.job_id = 1;
  spec.attempt = 1;
  spec.mpi = false;
  spec.workdir = run_dir;
  spec.run_dir = run_dir;
  spec.log_path = run_dir + "/job.log";
  spec.exit_file = run_dir + "/attempt-1.exit";
  // What the process sees: who it is, its HOME, its own file, and the state
  // directory's private file (which it must not read) and listing (likewise).
  spec.command = {"/bin/sh", "-c",
                  "echo uid=$(id -u) gid=$(id -g) groups=$(id -G) home=$HOME; cat job.yaml; touch made-here; "
                  "cat ../../jobs.db && echo READ-PRIVATE; ls ../.. && echo LISTED-STATE; exit 3"};
  auto handle = launcher.Launch(spec);
  ASSERT_TRUE(handle.ok()) << handle.status().ToString();
  RunStatus status;
  for (int i = 0; i < 200; ++i) {
    status = launcher.Poll(*handle, spec.exit_file);
    if (status.state != RunState::kRunning) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_EQ(status.state, RunState::kExited) << status.detail;
  EXPECT_EQ(status.exit_code, 3);
  auto log = ReadFile(spec.log_path);
  ASSERT_TRUE(log.ok());
  EXPECT_NE(log->find("uid=" + std::to_string(nobody->uid) + " gid=" + std::to_string(nobody->gid)), std::string::npos)
      << *log;
  EXPECT_EQ(log->find(" 0 "), std::string::npos) << "root's group kept: " << *log;
  EXPECT_NE(log->find("home=" + nobody->home), std::string::npos) << *log;
  EXPECT_NE(log->find("name: mine"), std::string::npos) << "its own job file was not readable: " << *log;
  EXPECT_EQ(log->find("READ-PRIVATE"), std::string::npos) << *log;
  EXPECT_EQ(log->find("LISTED-STATE"), std::string::npos) << *log;
  EXPECT_EQ(OwnerOf(run_dir), nobody->uid);
  EXPECT_EQ(OwnerOf(run_dir + "/made-here"), nobody->uid);
  EXPECT_EQ(OwnerOf(state + "/jobs.db"), 0u);
}

TEST(RunAs, ASlurmLaunchAsksSbatchForTheAccount) {
  if (::geteuid() != 0) GTEST_SKIP() << "GiveTree needs root";
  const char* src = std::getenv("CHORUS_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  auto nobody = ResolveRunAs("nobody");
  ASSERT_TRUE(nobody.ok());
  TempDir tmp;
  // A stand-in sbatch on PATH records its arguments and answers a job id.
  const std::string bin = tmp.path() + "/bin", args = tmp.path() + "/sbatch.args";
  ASSERT_TRUE(MakeDirs(bin).ok());
  ASSERT_TRUE(AtomicWriteFile(bin + "/sbatch", "#!/bin/sh\necho \"$@\" > " + args + "\necho 4242\n").ok());
  ASSERT_EQ(::chmod((bin + "/sbatch").c_str(), 0755), 0);
  const std::string old_path = std::getenv("PATH");
  ::setenv("PATH", (bin + ":" + old_path).c_str(), 1);

  SlurmLauncherOptions options;
  options.template_path = std::string(src) + "/slurm/train.sbatch.in";
  options.run_as = *nobody;
  SlurmLauncher launcher(options);
  LaunchSpec spec;
  spec.job_id = 5;
  spec.attempt = 1;
  spec.run_dir = tmp.path() + "/jobs/5";
  ASSERT_TRUE(MakeDirs(spec.run_dir).ok());
  spec.workdir = spec.run_dir;
  spec.command = {"/bin/true"};
  spec.log_path = spec.run_dir + "/job.log";
  spec.exit_file = spec.run_dir + "/attempt-1.exit";
  auto handle = launcher.Launch(spec);
  ::setenv("PATH", old_path.c_str(), 1);
  ASSERT_TRUE(handle.ok()) << handle.status().ToString();
  EXPECT_EQ(*handle, "4242");
  auto recorded = ReadFile(args);
  ASSERT_TRUE(recorded.ok());
  EXPECT_NE(recorded->find("--uid=nobody --gid=" + std::to_string(nobody->gid)), std::string::npos) << *recorded;
  auto script = ReadFile(spec.run_dir + "/attempt-1.sbatch");
  ASSERT_TRUE(script.ok());
  EXPECT_NE(script->find("export HOME=" + nobody->home), std::string::npos);
  EXPECT_EQ(OwnerOf(spec.run_dir), nobody->uid);  // Slurm writes the log there as the account
}

}  // namespace
}  // namespace chorus::coordinator
