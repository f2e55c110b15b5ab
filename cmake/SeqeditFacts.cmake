# seqedit::facts: the fact-editing pipeline (include/seqedit/facts, sources in src/): requests,
# hyper-parameters, retention statistics, keys, target values, the multi-layer update and
# evaluation (pipeline.md). Defined only when the tokenizer and the model runtime are built.
if(NOT TARGET seqedit_text OR NOT TARGET seqedit_model)
  message(STATUS "seqedit::facts: not built (needs seqedit::text and seqedit::model)")
  return()
endif()

file(GLOB _seqedit_facts_sources CONFIGURE_DEPENDS
  "${PROJECT_SOURCE_DIR}/include/seqedit/facts/src/*.cpp")
add_library(seqedit_facts STATIC ${_seqedit_facts_sources})
add_library(seqedit::facts ALIAS seqedit_facts)
set_target_properties(seqedit_facts PROPERTIES
  EXPORT_NAME facts
  POSITION_INDEPENDENT_CODE ON)
target_compile_features(seqedit_facts PUBLIC cxx_std_17)
target_include_directories(seqedit_facts PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(seqedit_facts PUBLIC seqedit::seqedit seqedit::io seqedit::text seqedit::model)
seqedit_target_warnings(seqedit_facts)
list(APPEND SEQEDIT_EXPORTED_TARGETS seqedit_facts)
