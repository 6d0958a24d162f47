# Embeds a file into a program at build time: writes a C++ source whose function returns the
# file's bytes, so that the program reads no file at run time (the OpenAPI document of
# `evs serve`). Run by a custom command (CMakeLists.txt) that reruns it when the file changes:
#   cmake -DINPUT=FILE -DOUTPUT=FILE.cc -DHEADER=dir/header.h -DFUNCTION=ns::Name -P embed_file.cmake
# HEADER declares `std::string_view FUNCTION();`.
foreach(var INPUT OUTPUT HEADER FUNCTION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_file.cmake: -D${var}= is required")
  endif()
endforeach()
file(READ "${INPUT}" hex HEX)
# Each byte as 0xNN, 16 on a line.
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REPEAT "0x..," 16 line)  # CMake's regular expressions have no {16}
string(REGEX REPLACE "(${line})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by cmake/embed_file.cmake: do not edit.\n"
  "#include \"${HEADER}\"\n\n"
  "namespace {\n\n"
  "const unsigned char kBytes[] = {\n${bytes}};\n\n"
  "}  // namespace\n\n"
  "std::string_view ${FUNCTION}() {\n"
  "  return {reinterpret_cast<const char*>(kBytes), sizeof kBytes};\n"
  "}\n")
# Only a changed output is rewritten: its dependents are not rebuilt for nothing.
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
