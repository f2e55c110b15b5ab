# seqedit::model: the CPU model runtime (include/seqedit/model, sources in src/).
# Included by the top-level CMakeLists.txt inside if(SEQEDIT_BUILD_IO), so seqedit::io exists.
# OpenMP (optional) parallelises the weight conversion, the attention loops and Eigen's GEMM.

find_package(OpenMP COMPONENTS CXX)

file(GLOB _seqedit_model_sources CONFIGURE_DEPENDS
  "${PROJECT_SOURCE_DIR}/include/seqedit/model/src/*.cpp")
add_library(seqedit_model STATIC ${_seqedit_model_sources})
add_library(seqedit::model ALIAS seqedit_model)
set_target_properties(seqedit_model PROPERTIES
  EXPORT_NAME model
  POSITION_INDEPENDENT_CODE ON)
target_compile_features(seqedit_model PUBLIC cxx_std_17)
target_include_directories(seqedit_model PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(seqedit_model PUBLIC seqedit::io Eigen3::Eigen)
if(OpenMP_CXX_FOUND)
  target_link_libraries(seqedit_model PUBLIC OpenMP::OpenMP_CXX)
  string(APPEND SEQEDIT_CONFIG_DEPENDENCIES "find_dependency(OpenMP COMPONENTS CXX)\n")
endif()
seqedit_target_warnings(seqedit_model)

list(APPEND SEQEDIT_EXPORTED_TARGETS seqedit_model)
