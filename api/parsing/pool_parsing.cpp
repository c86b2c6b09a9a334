// The bodies of /v1/pools, /v1/disks, /v1/disks/import and /v1/vms/{id}/disks.
#include "api/parsing/field_reader.h"
#include "api/request_parsing.h"
#include "common/uuid.h"

namespace flotilla::api {

using namespace parsing;  // NOLINT: the readers are this file's vocabulary

namespace {

Status body_object(const Json& j) {
  if (!j.is_object()) return api_error(ApiErrc::validation_failed, "body must be a JSON object");
  return std::nullopt;
}

Status required(const Json& j, std::string_view key) {
  if (!j.contains(key)) return invalid(std::string(key), "is required");
  return std::nullopt;
}

// A pool or disk named by its id or its name.
Status read_ref(const Json& v, const std::string& field, std::string& out) {
  if (!v.is_string()) return invalid(field, "must be an id or a name");
  const auto& s = v.get_ref<const std::string&>();
  if (!is_uuid(s) && !is_valid_name(s)) return invalid(field, "must be an id or a name");
  out = s;
  return std::nullopt;
}

Status read_size(const Json& v, const std::string& field, uint64_t& out) {
  return read_uint(v, field, 1, kMaxDiskBytes, out);
}

Status read_format(const Json& v, const std::string& field, std::string& out) {
  if (!v.is_string() ||
      (v.get_ref<const std::string&>() != "raw" && v.get_ref<const std::string&>() != "qcow2")) {
    return invalid(field, "must be one of raw, qcow2");
  }
  out = v.get<std::string>();
  return std::nullopt;
}

Status apply_pool(const Json& j, PoolCreateRequest& r) {
  FLT_RETURN_IF_ERROR(body_object(j));
  FLT_RETURN_IF_ERROR(check_keys(j, "", {"name", "type", "path", "size_bytes"}));
  FLT_RETURN_IF_ERROR(required(j, "name"));
  FLT_RETURN_IF_ERROR(read_name(j["name"], "name", r.name));
  FLT_RETURN_IF_ERROR(required(j, "type"));
  const Json& t = j["type"];
  if (!t.is_string() || !storage::pool_type_from_string(t.get_ref<const std::string&>())) {
    return invalid("type", "must be one of dir, partitioned");
  }
  r.type = *storage::pool_type_from_string(t.get_ref<const std::string&>());
  FLT_RETURN_IF_ERROR(required(j, "path"));
  FLT_RETURN_IF_ERROR(read_host_path(j["path"], "path", false, r.path));
  if (r.path == "/") return invalid("path", "must not be /");
  if (auto it = j.find("size_bytes"); it != j.end() && !it->is_null()) {
    if (r.type == storage::PoolType::dir) {
      return invalid("size_bytes", "is only for partitioned pools");
    }
    FLT_RETURN_IF_ERROR(read_size(*it, "size_bytes", r.size_bytes));
  }
  return std::nullopt;
}

Status apply_disk(const Json& j, DiskCreateRequest& r) {
  FLT_RETURN_IF_ERROR(body_object(j));
  FLT_RETURN_IF_ERROR(check_keys(j, "", {"name", "pool", "size_bytes", "format", "backing"}));
  FLT_RETURN_IF_ERROR(required(j, "name"));
  FLT_RETURN_IF_ERROR(read_name(j["name"], "name", r.name));
  FLT_RETURN_IF_ERROR(required(j, "pool"));
  FLT_RETURN_IF_ERROR(read_ref(j["pool"], "pool", r.pool));
  FLT_RETURN_IF_ERROR(required(j, "size_bytes"));
  FLT_RETURN_IF_ERROR(read_size(j["size_bytes"], "size_bytes", r.size_bytes));
  if (auto it = j.find("format"); it != j.end()) {
    FLT_RETURN_IF_ERROR(read_format(*it, "format", r.format));
  }
  if (auto it = j.find("backing"); it != j.end() && !it->is_null()) {
    FLT_RETURN_IF_ERROR(read_ref(*it, "backing", r.backing));
  }
  return std::nullopt;
}

Status apply_import(const Json& j, DiskImportRequest& r) {
  FLT_RETURN_IF_ERROR(body_object(j));
  FLT_RETURN_IF_ERROR(check_keys(j, "", {"name", "pool", "source_path", "format"}));
  FLT_RETURN_IF_ERROR(required(j, "name"));
  FLT_RETURN_IF_ERROR(read_name(j["name"], "name", r.name));
  FLT_RETURN_IF_ERROR(required(j, "pool"));
  FLT_RETURN_IF_ERROR(read_ref(j["pool"], "pool", r.pool));
  FLT_RETURN_IF_ERROR(required(j, "source_path"));
  FLT_RETURN_IF_ERROR(read_host_path(j["source_path"], "source_path", false, r.source_path));
  if (auto it = j.find("format"); it != j.end() && !it->is_null()) {
    FLT_RETURN_IF_ERROR(read_format(*it, "format", r.format));
  }
  return std::nullopt;
}

Status apply_attach(const Json& j, DiskAttachRequest& r) {
  FLT_RETURN_IF_ERROR(body_object(j));
  FLT_RETURN_IF_ERROR(check_keys(j, "", {"disk", "read_only"}));
  FLT_RETURN_IF_ERROR(required(j, "disk"));
  FLT_RETURN_IF_ERROR(read_ref(j["disk"], "disk", r.disk));
  if (auto it = j.find("read_only"); it != j.end()) {
    FLT_RETURN_IF_ERROR(read_bool(*it, "read_only", r.read_only));
  }
  return std::nullopt;
}

template <class T, class Apply>
ApiResult<T> parse_with(std::string_view body, Apply apply) {
  auto json = parse_json_body(body);
  if (!json) return fail(json.error());
  T out;
  if (auto s = apply(*json, out)) return fail(std::move(*s));
  return out;
}

}  // namespace

ApiResult<PoolCreateRequest> parse_pool_create(std::string_view body) {
  return parse_with<PoolCreateRequest>(body, apply_pool);
}

ApiResult<DiskCreateRequest> parse_disk_create(std::string_view body) {
  return parse_with<DiskCreateRequest>(body, apply_disk);
}

ApiResult<DiskImportRequest> parse_disk_import(std::string_view body) {
  return parse_with<DiskImportRequest>(body, apply_import);
}

ApiResult<DiskAttachRequest> parse_disk_attach(std::string_view body) {
  return parse_with<DiskAttachRequest>(body, apply_attach);
}

ApiResult<uint64_t> parse_disk_patch(std::string_view body) {
  return parse_with<uint64_t>(body, [](const Json& j, uint64_t& size) -> Status {
    FLT_RETURN_IF_ERROR(body_object(j));
    FLT_RETURN_IF_ERROR(check_keys(j, "", {"size_bytes"}));
    FLT_RETURN_IF_ERROR(required(j, "size_bytes"));
    return read_size(j["size_bytes"], "size_bytes", size);
  });
}

}  // namespace flotilla::api
