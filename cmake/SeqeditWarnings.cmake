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
    endif()
  elseif(MSVC)
    target_compile_options(${target} PRIVATE /W4 /bigobj)
    if(SEQEDIT_WERROR)
      target_compile_options(${target} PRIVATE /WX)
    endif()
  endif()
endfunction()
