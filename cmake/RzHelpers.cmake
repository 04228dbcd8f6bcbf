# Small helpers shared by every target: warnings, sanitizers, one-call tool definition.

# The C++ runtime comes first among the shared libraries a program needs, so that the program's
# own calls into it bind to it. The dynamic linker takes a symbol from the first library in load
# order that defines it, and the libtorch inside a pip torch install exports its own copies of
# parts of libstdc++ (std::filesystem among them: its remove_all jumped to address 0 when
# `rz-separate -f` replaced an output, issue 15). Linked after libtorch, as the compiler driver
# links it by default, libstdc++ loses that race; named first, before the objects, it wins.
# tests/unit/runtime_binding checks the rule with a library that exports a decoy of
# std::filesystem::remove_all, and tests/cli/runtime_binding.sh checks every tool's binding.
function(rz_runtime_first target)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE" AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang" AND NOT APPLE)
    target_link_options(${target} PRIVATE "SHELL:-Wl,--push-state,--no-as-needed -lstdc++ -Wl,--pop-state")
  endif()
endfunction()

function(rz_target_flags target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow)
  rz_runtime_first(${target})
  if(RZ_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(RZ_SANITIZE)
    # float-cast-overflow is not part of GCC's "undefined" group; no recovery, so that any finding
    # fails the run instead of scrolling past.
    # -g1: line tables and function names, all a report's stack needs; full -g (every type of
    # libtorch's headers) made a sanitized torch translation unit compile 1.5x longer.
    set(sanitizers -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all)
    target_compile_options(${target} PRIVATE ${sanitizers} -fno-omit-frame-pointer -g1)
    target_link_options(${target} PRIVATE ${sanitizers})
    target_compile_definitions(${target} PRIVATE RZ_SANITIZED=1)  # tests skip speed floors
  endif()
  if(RZ_BUILD_FUZZ)
    # Coverage feedback for libFuzzer, and sanitizers that turn memory errors, leaks and undefined
    # behaviour (float-to-int overflow included) into crashes, with assertions on (nlohmann's
    # included) whatever the build type says. Every target of a fuzz build gets them, so that
    # whatever links the instrumented core libraries also links the sanitizer runtimes.
    # -gline-tables-only: a crash's stack needs no more (as -g1 for RZ_SANITIZE above).
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link,address,undefined
      -fno-sanitize-recover=undefined -fno-omit-frame-pointer -gline-tables-only -UNDEBUG)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# RZ_BUILD_FUZZ needs clang and its libFuzzer runtime (Debian: clang, libclang-rt-14-dev).
function(rz_require_libfuzzer)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "RZ_BUILD_FUZZ needs clang (libFuzzer), not ${CMAKE_CXX_COMPILER_ID}: "
      "configure a separate build directory with CC=clang CXX=clang++ (scripts/fuzz.sh does)")
  endif()
  include(CheckCXXSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS -fsanitize=fuzzer,address,undefined)
  set(CMAKE_REQUIRED_LINK_OPTIONS -fsanitize=fuzzer,address,undefined)
  check_cxx_source_compiles([[
    #include <cstddef>
    #include <cstdint>
    extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }
  ]] RZ_HAVE_LIBFUZZER)
  if(NOT RZ_HAVE_LIBFUZZER)
    message(FATAL_ERROR "RZ_BUILD_FUZZ: ${CMAKE_CXX_COMPILER} cannot link -fsanitize=fuzzer; "
      "install its runtime (Debian: libclang-rt-14-dev; scripts/install-deps.sh --test)")
  endif()
endfunction()

# rz_add_fuzzer(fuzz_thing source...): a libFuzzer harness linked to rz::core, built by rz-fuzz
# into bin/fuzz/.
function(rz_add_fuzzer name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE rz::core)
  rz_target_flags(${name})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin/fuzz)
  add_dependencies(rz-fuzz ${name})
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
