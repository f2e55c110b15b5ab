# libFuzzer targets of seqedit::text (included by tests/fuzz/CMakeLists.txt):
#   fuzz_tokenizer_json    arbitrary bytes as tokenizer.json (corpus/tokenizer_json, dict/tokenizer_json.dict)
#   fuzz_tokenizer_encode  arbitrary bytes encoded by a fixed small tokenizer (corpus/tokenizer_encode)
# The tokenizer's sources are compiled once, instrumented (coverage guides the fuzzer only
# through instrumented code), into an object library that both targets link.
get_target_property(_fuzz_text_sources seqedit_text SOURCES)
add_library(seqedit_fuzz_text_objects OBJECT ${_fuzz_text_sources})
target_include_directories(seqedit_fuzz_text_objects PUBLIC "${PROJECT_SOURCE_DIR}/include")
target_link_libraries(seqedit_fuzz_text_objects PUBLIC seqedit::io PkgConfig::SEQEDIT_PCRE2 PkgConfig::SEQEDIT_UTF8PROC)
target_compile_features(seqedit_fuzz_text_objects PUBLIC cxx_std_17)
seqedit_target_warnings(seqedit_fuzz_text_objects)
target_compile_options(seqedit_fuzz_text_objects PRIVATE -g -fsanitize=fuzzer-no-link,address,undefined
                       -fno-sanitize-recover=all)
foreach(_f tokenizer_json tokenizer_encode)
  add_executable(fuzz_${_f} "${CMAKE_CURRENT_LIST_DIR}/fuzz_${_f}.cpp")
  target_link_libraries(fuzz_${_f} PRIVATE seqedit_fuzz_text_objects)
  seqedit_target_warnings(fuzz_${_f})
  target_compile_options(fuzz_${_f} PRIVATE -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
  target_link_options(fuzz_${_f} PRIVATE -fsanitize=fuzzer,address,undefined)
endforeach()
