# The installable library (included by the top CMakeLists.txt once every
# target exists):
#   libmekivk.so.MAJOR  (SONAME, VERSION; exports exactly the functions the
#                        public headers declare: a version script generated
#                        from them, so embedded SPIR-V, internal mkv_* and
#                        foreign code stay local)
#   libmekivk.a         (every object of the engine in one archive)
# Both are assembled from the objects of the engine's internal static
# libraries (compiled once, position-independent), which the CLI and the
# tests keep linking: they use internal functions the .so does not export.
# `cmake --install` ships the headers (include/mekivk/), both libraries,
# mekivk.pc and the CMake package (find_package(mekivk) -> mekivk::mekivk,
# the shared library; mekivk::mekivk_static). The shaders are embedded.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
include(${CMAKE_CURRENT_LIST_DIR}/mekivk_api.cmake)

# The public headers (mekivk_vulkan.h: the embedding API with Vulkan handles).
set(MKV_PUBLIC_HEADERS ${PROJECT_SOURCE_DIR}/runtime/mekivk.h
                       ${PROJECT_SOURCE_DIR}/runtime/tokenizer.h
                       ${PROJECT_SOURCE_DIR}/runtime/sampler.h
                       ${PROJECT_SOURCE_DIR}/runtime/mekivk_vulkan.h)

# The parts: every static library of the project that mkv_runtime (the
# engine) and mkv_core (tokenizer, sampler) link, followed through link
# dependencies; imported targets (PCRE2, utf8proc, Threads) and plain
# libraries (m, dl) stay outside, as link dependencies.
function(mkv_static_parts out)
  set(seen "")
  set(parts "")
  set(todo ${ARGN})
  while(todo)
    list(POP_FRONT todo t)
    if(NOT TARGET ${t} OR t IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${t})
    get_target_property(imported ${t} IMPORTED)
    if(imported)
      continue()
    endif()
    get_target_property(type ${t} TYPE)
    if(type STREQUAL "STATIC_LIBRARY")
      list(APPEND parts ${t})
      get_target_property(deps ${t} LINK_LIBRARIES)
    elseif(type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(deps ${t} INTERFACE_LINK_LIBRARIES)
    else()
      continue()
    endif()
    if(deps)
      list(APPEND todo ${deps})
    endif()
  endwhile()
  set(${out} ${parts} PARENT_SCOPE)
endfunction()
mkv_static_parts(MKV_LIB_PARTS mkv_runtime mkv_core)

set(objs "")
foreach(p ${MKV_LIB_PARTS})
  set_target_properties(${p} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  list(APPEND objs $<TARGET_OBJECTS:${p}>)
endforeach()

# Builds with sanitizers leave the sanitizer runtime undefined in a shared
# library (clang) or need it first in the process: no --no-undefined there,
# and no consumer test (tests/CMakeLists.txt).
set(MKV_SANITIZED OFF)
if(MKV_FUZZ_ENABLED OR CMAKE_C_FLAGS MATCHES "-fsanitize")
  set(MKV_SANITIZED ON)
endif()

# Version script: the public headers' functions global, the rest local.
set(MKV_EXPORT_MAP ${CMAKE_CURRENT_BINARY_DIR}/mekivk.map)
string(REPLACE ";" "," headers_csv "${MKV_PUBLIC_HEADERS}")
add_custom_command(OUTPUT ${MKV_EXPORT_MAP}
  COMMAND ${CMAKE_COMMAND} -DMODE=map -DHEADERS=${headers_csv} -DOUT=${MKV_EXPORT_MAP}
          -P ${CMAKE_CURRENT_LIST_DIR}/mekivk_api.cmake
  DEPENDS ${MKV_PUBLIC_HEADERS} ${CMAKE_CURRENT_LIST_DIR}/mekivk_api.cmake
  COMMENT "libmekivk exports from the public headers"
  VERBATIM)
add_custom_target(mekivk_exports DEPENDS ${MKV_EXPORT_MAP})

# Shared: libmekivk.so -> libmekivk.so.0 -> libmekivk.so.0.2.0.
add_library(mekivk_shared SHARED ${objs})
add_dependencies(mekivk_shared mekivk_exports)
set_target_properties(mekivk_shared PROPERTIES
  OUTPUT_NAME mekivk
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}
  EXPORT_NAME mekivk
  LINK_DEPENDS ${MKV_EXPORT_MAP})
target_link_options(mekivk_shared PRIVATE "LINKER:--version-script=${MKV_EXPORT_MAP}")
if(NOT MKV_SANITIZED)
  target_link_options(mekivk_shared PRIVATE "LINKER:--no-undefined")   # every dependency recorded (DT_NEEDED)
endif()
# The parts' own link dependencies (PCRE2, utf8proc, libm, threads, libdl):
# linking mkv_runtime after the objects pulls nothing of its archives (all
# their symbols are defined already) but brings their dependencies in.
target_link_libraries(mekivk_shared PRIVATE mkv_runtime mkv_core)
target_include_directories(mekivk_shared INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/runtime>)
add_library(mekivk::mekivk ALIAS mekivk_shared)

# Static: one libmekivk.a with every part's objects.
add_library(mekivk_static STATIC ${objs})
set_target_properties(mekivk_static PROPERTIES OUTPUT_NAME mekivk EXPORT_NAME mekivk_static)
# Its dependencies: in the build tree those of the parts (as for the shared
# library); installed, the system libraries by name (pkg-config's names of
# PCRE2 and utf8proc, cached by runtime/CMakeLists.txt's pkg_check_modules).
target_link_libraries(mekivk_static INTERFACE
  "$<BUILD_INTERFACE:mkv_runtime;mkv_core>"
  "$<INSTALL_INTERFACE:${PCRE2_LIBRARIES};${UTF8PROC_LIBRARIES};Threads::Threads;m;${CMAKE_DL_LIBS}>")
target_include_directories(mekivk_static INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/runtime>)
add_library(mekivk::mekivk_static ALIAS mekivk_static)

# ---- install ---------------------------------------------------------------
set(MKV_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mekivk)
install(TARGETS mekivk_shared mekivk_static EXPORT mekivkTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  # both <mekivk/mekivk.h> and <mekivk.h> work
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} ${CMAKE_INSTALL_INCLUDEDIR}/mekivk)
install(FILES ${MKV_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mekivk)
install(EXPORT mekivkTargets NAMESPACE mekivk:: DESTINATION ${MKV_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/mekivkConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/mekivkConfig.cmake INSTALL_DESTINATION ${MKV_CMAKE_DIR})
# 0.x: a new minor version may break the API, so only 0.2.x satisfies 0.2
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/mekivkConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/mekivkConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/mekivkConfigVersion.cmake
  DESTINATION ${MKV_CMAKE_DIR})

# mekivk.pc, relocatable: its prefix is found from where the file lies
# (${pcfiledir}), so `cmake --install --prefix P` and DESTDIR both work.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(MKV_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH rel "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
  string(REGEX REPLACE "/$" "" rel "${rel}")
  set(MKV_PC_PREFIX "\${pcfiledir}/${rel}")
endif()
set(MKV_PC_LIBS_PRIVATE "-lm -lpthread")
foreach(l ${CMAKE_DL_LIBS})
  string(APPEND MKV_PC_LIBS_PRIVATE " -l${l}")
endforeach()
configure_file(${CMAKE_CURRENT_LIST_DIR}/mekivk.pc.in ${CMAKE_CURRENT_BINARY_DIR}/mekivk.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/mekivk.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
