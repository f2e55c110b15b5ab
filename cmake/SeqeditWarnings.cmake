# seqedit_target_warnings(<target>)
# Settings shared by the project's own programs (tests, examples, benchmarks): strict
# warnings (errors with SEQEDIT_WERROR), -march=native with SEQEDIT_NATIVE, and the
# OpenBLAS/LAPACKE backend with SEQEDIT_USE_BLAS. The INTERFACE libraries themselves carry
# no flags: consumers choose their own.
function(seqedit_target_warnings target)
  if(TARGET seqedit_blas_backend)
    target_link_libraries(${target} PRIVATE seqedit_blas_backend)
  endif()
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion-null)
    if(SEQEDIT_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
    if(SEQEDIT_NATIVE)
      target_compile_options(${target} PRIVATE -march=native)
      if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
        # GCC 12 false positive in its own AVX-512 intrinsics once Eigen's packet code is
        # inlined with -march=native (GCC bug 105593, fixed in GCC 13): only those two
        # diagnostics, only in native builds.
        target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized -Wno-uninitialized)
      endif()
    endif()
  elseif(MSVC)
    target_compile_options(${target} PRIVATE /W4 /bigobj)
    if(SEQEDIT_WERROR)
      target_compile_options(${target} PRIVATE /WX)
    endif()
  endif()
endfunction()
