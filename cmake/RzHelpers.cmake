# Small helpers shared by every target: warnings, sanitizers, one-call tool definition.

function(rz_target_flags target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow)
  if(RZ_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(RZ_SANITIZE)
    # float-cast-overflow is not part of GCC's "undefined" group; no recovery, so that any finding
    # fails the run instead of scrolling past.
    set(sanitizers -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all)
    target_compile_options(${target} PRIVATE ${sanitizers} -fno-omit-frame-pointer -g)
    target_link_options(${target} PRIVATE ${sanitizers})
    target_compile_definitions(${target} PRIVATE RZ_SANITIZED=1)  # tests skip speed floors
  endif()
endfunction()

# rz_add_tool(rz-verb): tools/rz-verb.cpp linked to rz::core, installed with man/rz-verb.1.
function(rz_add_tool name)
  add_executable(${name} ${name}.cpp)
  target_link_libraries(${name} PRIVATE rz::core)
  rz_target_flags(${name})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
  install(TARGETS ${name} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(FILES ${PROJECT_SOURCE_DIR}/man/${name}.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endfunction()
