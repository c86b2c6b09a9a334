# cmake -DINPUT=<file> -DOUTPUT=<cpp> -P embed_file.cmake: writes openapi_document() returning
# INPUT's bytes, as a hex array (no raw-string delimiter to collide with, no xxd needed).
file(READ ${INPUT} _hex HEX)
string(LENGTH "${_hex}" _len)
math(EXPR _bytes "${_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _array "${_hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){32})" "\\1\n" _array "${_array}")
file(WRITE ${OUTPUT}.tmp
"// Generated from api/openapi.json by api/embed_file.cmake. Do not edit.
#include \"api/openapi_document.h\"

namespace flotilla::api {
namespace {
const unsigned char kDocument[] = {
${_array}
};
}  // namespace

std::string_view openapi_document() {
  return {reinterpret_cast<const char*>(kDocument), ${_bytes}};
}

}  // namespace flotilla::api
")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
