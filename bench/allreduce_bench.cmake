# allreduce_bench: all-reduce bus bandwidth of the MPI communicator against raw
# MPI_Allreduce on the same buffers (bench/allreduce_bench.cc). Run it as
#   mpiexec --oversubscribe -n 2 build/bench/allreduce_bench
add_executable(allreduce_bench ${CMAKE_CURRENT_LIST_DIR}/allreduce_bench.cc)
target_link_libraries(allreduce_bench PRIVATE chorus_comm CLI11::CLI11)
chorus_use_torch(allreduce_bench)
