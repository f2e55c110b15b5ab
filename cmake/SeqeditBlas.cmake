# SeqeditBlas.cmake — the optional BLAS/LAPACKE backend (SEQEDIT_USE_BLAS=ON).
#
# Defines the INTERFACE target `seqedit_blas_backend` (alias seqedit::blas_backend) that
# the project's own programs (tests, examples, benchmarks) link to run Eigen's dense
# kernels on OpenBLAS and LAPACKE:
#
#   compile definitions  EIGEN_USE_BLAS EIGEN_USE_LAPACKE SEQEDIT_HAVE_LAPACKE
#   libraries            LAPACKE, LAPACK and BLAS (OpenBLAS), OpenMP
#
# The header-only target seqedit::seqedit is left untouched: the backend is a choice of
# each consumer, and every translation unit of one program must make the same choice.
#
# Lookup: FindBLAS/FindLAPACK with BLA_VENDOR=OpenBLAS, falling back to any vendor;
# LAPACKE through pkg-config (`lapacke`) or find_library. Debian: libopenblas-dev
# liblapacke-dev. OpenMP is optional (Eigen's own parallel loops; OpenBLAS threads itself).
# Thread count: OPENBLAS_NUM_THREADS / OMP_NUM_THREADS.

if(TARGET seqedit_blas_backend)
  return()
endif()

set(BLA_VENDOR OpenBLAS)
find_package(BLAS)
find_package(LAPACK)
if(NOT BLAS_FOUND OR NOT LAPACK_FOUND)
  message(STATUS "seqedit: OpenBLAS not found by FindBLAS/FindLAPACK; trying any vendor")
  unset(BLA_VENDOR)
  find_package(BLAS REQUIRED)
  find_package(LAPACK REQUIRED)
endif()

set(_seqedit_lapacke_libs "")
set(_seqedit_lapacke_incs "")
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(SEQEDIT_PC_LAPACKE QUIET lapacke)
endif()
if(SEQEDIT_PC_LAPACKE_FOUND)
  find_library(SEQEDIT_LAPACKE_LIBRARY NAMES lapacke HINTS ${SEQEDIT_PC_LAPACKE_LIBRARY_DIRS})
  set(_seqedit_lapacke_incs ${SEQEDIT_PC_LAPACKE_INCLUDE_DIRS})
else()
  find_library(SEQEDIT_LAPACKE_LIBRARY NAMES lapacke)
endif()
if(NOT SEQEDIT_LAPACKE_LIBRARY)
  message(FATAL_ERROR
    "seqedit: SEQEDIT_USE_BLAS=ON needs LAPACKE (Debian: apt-get install liblapacke-dev)")
endif()
set(_seqedit_lapacke_libs ${SEQEDIT_LAPACKE_LIBRARY})

find_package(OpenMP COMPONENTS CXX)

add_library(seqedit_blas_backend INTERFACE)
add_library(seqedit::blas_backend ALIAS seqedit_blas_backend)
target_compile_definitions(seqedit_blas_backend INTERFACE
  EIGEN_USE_BLAS EIGEN_USE_LAPACKE SEQEDIT_HAVE_LAPACKE)
if(_seqedit_lapacke_incs)
  target_include_directories(seqedit_blas_backend INTERFACE ${_seqedit_lapacke_incs})
endif()
target_link_libraries(seqedit_blas_backend INTERFACE
  ${_seqedit_lapacke_libs} ${LAPACK_LIBRARIES} ${BLAS_LIBRARIES})
if(OpenMP_CXX_FOUND)
  target_link_libraries(seqedit_blas_backend INTERFACE OpenMP::OpenMP_CXX)
endif()

message(STATUS "seqedit: BLAS backend: ${BLAS_LIBRARIES}; LAPACK: ${LAPACK_LIBRARIES}; "
               "LAPACKE: ${_seqedit_lapacke_libs}; OpenMP: ${OpenMP_CXX_FOUND}")
