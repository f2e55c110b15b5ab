# seqedit::text: the tokenizer.json pipeline (include/seqedit/text), a static library on
# seqedit::io's JSON, PCRE2 (UTF + UCP, JIT) and utf8proc, all from Debian's packages
# (libpcre2-dev, libutf8proc-dev) found through their pkg-config files.
find_package(PkgConfig REQUIRED)
pkg_check_modules(SEQEDIT_PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(SEQEDIT_UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)

set(_seqedit_text_dir "${PROJECT_SOURCE_DIR}/include/seqedit/text/src")
add_library(seqedit_text STATIC
  "${_seqedit_text_dir}/unicode.cpp"
  "${_seqedit_text_dir}/normalizers.cpp"
  "${_seqedit_text_dir}/pre_tokenizers.cpp"
  "${_seqedit_text_dir}/models.cpp"
  "${_seqedit_text_dir}/processors.cpp"
  "${_seqedit_text_dir}/tokenizer.cpp")
add_library(seqedit::text ALIAS seqedit_text)
set_target_properties(seqedit_text PROPERTIES EXPORT_NAME text POSITION_INDEPENDENT_CODE ON)
target_compile_features(seqedit_text PUBLIC cxx_std_17)
target_include_directories(seqedit_text PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(seqedit_text
  PUBLIC seqedit::io
  PRIVATE PkgConfig::SEQEDIT_PCRE2 PkgConfig::SEQEDIT_UTF8PROC)
seqedit_target_warnings(seqedit_text)
list(APPEND SEQEDIT_EXPORTED_TARGETS seqedit_text)

# The installed config finds the same two libraries again (a static library's private
# dependencies are link dependencies of its users).
string(APPEND SEQEDIT_CONFIG_DEPENDENCIES
  "find_dependency(PkgConfig)\n"
  "pkg_check_modules(SEQEDIT_PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)\n"
  "pkg_check_modules(SEQEDIT_UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)\n")
