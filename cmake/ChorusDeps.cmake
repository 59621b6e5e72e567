# Finds every third-party dependency once, as imported targets.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(Torch REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(GTest REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(Protobuf REQUIRED)
find_package(cppzmq REQUIRED)

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
