// Random (version 4) UUIDs, so ids stay unique across hosts.
#pragma once

#include <string>
#include <string_view>

namespace flotilla {

// A new UUIDv4 in canonical lower-case form ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx").
std::string make_uuid();

// True for a canonical lower-case UUID string of any version.
bool is_uuid(std::string_view s);

}  // namespace flotilla
