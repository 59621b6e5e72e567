# Finds every third-party dependency once, as imported targets.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
# Before Torch: LibTorch's config makes a dummy protobuf::libprotobuf target
# when none exists yet, which would then hide the real one.
find_package(Protobuf REQUIRED)
find_package(Torch REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(GTest REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto SSL)
# Boost.Beast and Asio (header-only): the HTTP server, common/net/http_server.h.
find_package(Boost 1.74 REQUIRED)
# simdjson: the OIP infer body, mostly numbers, parsed ~9x faster than with nlohmann::json.
find_package(simdjson REQUIRED)
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(cppzmq REQUIRED)

# LibTorch from PyTorch's wheels carries its own copies of fmt (12) and of
# protobuf's headers (3.13) in its include folder. spdlog was built against
# the system's fmt and protoc generates code for the system's protobuf, so
# the system's copies go in front: a folder of links, searched first.
set(_shim ${CMAKE_BINARY_DIR}/include-first)
get_target_property(_fmt_include fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
set(_system_include_fmt ${_fmt_include})
set(_system_include_google ${Protobuf_INCLUDE_DIRS})
set(_shimmed OFF)
foreach(_dir fmt google)
  list(GET _system_include_${_dir} 0 _system)
  if(TORCH_INSTALL_PREFIX AND EXISTS "${TORCH_INSTALL_PREFIX}/include/${_dir}" AND _system
     AND NOT "${TORCH_INSTALL_PREFIX}/include" STREQUAL "${_system}")
    file(MAKE_DIRECTORY ${_shim})
    file(CREATE_LINK "${_system}/${_dir}" "${_shim}/${_dir}" SYMBOLIC)
    set(_shimmed ON)
  endif()
endforeach()
if(_shimmed)
  include_directories(BEFORE SYSTEM ${_shim})
  message(STATUS "Chorus: the system's fmt and protobuf headers are searched before LibTorch's copies (${_shim})")
endif()

# NCCL: on when LibTorch was built with CUDA and NCCL is found (AUTO), or forced.
set(CHORUS_WITH_NCCL AUTO CACHE STRING "Build the NCCL communicator: AUTO, ON or OFF")
set(CHORUS_NCCL_ENABLED OFF)
if(NOT CHORUS_WITH_NCCL STREQUAL "OFF")
  find_package(NCCL QUIET)
  find_package(CUDAToolkit QUIET)
  set(_torch_has_cuda OFF)
  if(TORCH_CUDA_LIBRARIES OR CAFFE2_USE_CUDA)
    set(_torch_has_cuda ON)
  endif()
  if(NCCL_FOUND AND CUDAToolkit_FOUND AND _torch_has_cuda)
    set(CHORUS_NCCL_ENABLED ON)
  elseif(CHORUS_WITH_NCCL STREQUAL "ON")
    message(FATAL_ERROR "CHORUS_WITH_NCCL=ON needs LibTorch with CUDA (${_torch_has_cuda}), the CUDA toolkit "
                        "(${CUDAToolkit_FOUND}) and NCCL (${NCCL_FOUND})")
  endif()
endif()
message(STATUS "Chorus: NCCL communicator ${CHORUS_NCCL_ENABLED}")
pkg_check_modules(SNDFILE REQUIRED IMPORTED_TARGET sndfile)
pkg_check_modules(SOXR REQUIRED IMPORTED_TARGET soxr)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)  # the PostgreSQL job store (libpqxx-dev)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)

find_path(ESPEAK_NG_INCLUDE_DIR espeak-ng/speak_lib.h REQUIRED)
find_library(ESPEAK_NG_LIBRARY espeak-ng REQUIRED)
add_library(chorus::espeak_ng UNKNOWN IMPORTED)
set_target_properties(chorus::espeak_ng PROPERTIES
  IMPORTED_LOCATION ${ESPEAK_NG_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${ESPEAK_NG_INCLUDE_DIR})

# LibTorch: one precompiled header shared by every target that uses torch.
# Targets opt in with chorus_use_torch(target).
add_library(chorus_torch_pch OBJECT ${CMAKE_CURRENT_LIST_DIR}/torch_pch.cc)
target_link_libraries(chorus_torch_pch PUBLIC ${TORCH_LIBRARIES})
target_precompile_headers(chorus_torch_pch PRIVATE <torch/torch.h>)

function(chorus_use_torch target)
  target_link_libraries(${target} PUBLIC ${TORCH_LIBRARIES})
  target_precompile_headers(${target} REUSE_FROM chorus_torch_pch)
endfunction()
