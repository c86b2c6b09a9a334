// The pool, disk, import, attach and disk PATCH bodies: good ones, and bad ones naming the field.
#include <gtest/gtest.h>

#include "api/request_parsing.h"

namespace flotilla::api {
namespace {

template <class Parse>
void expect_field(Parse parse, const std::string& body, const std::string& field,
                  ApiErrc code = ApiErrc::validation_failed) {
  auto r = parse(body);
  ASSERT_FALSE(r.ok()) << body;
  EXPECT_EQ(r.error().code, code) << body << ": " << r.error().message;
  EXPECT_EQ(r.error().field, field) << body << ": " << r.error().message;
}

TEST(PoolValidation, PoolCreate) {
  auto p = parse_pool_create(R"({"name":"fast","type":"partitioned","path":"/dev/vdb"})");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->type, storage::PoolType::partitioned);
  EXPECT_EQ(p->size_bytes, 0u);
  p = parse_pool_create(
      R"({"name":"f","type":"partitioned","path":"/x.img","size_bytes":4194304})");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->size_bytes, 4194304u);
  expect_field(parse_pool_create, R"({"type":"dir","path":"/x"})", "name");
  expect_field(parse_pool_create, R"({"name":"f","path":"/x"})", "type");
  expect_field(parse_pool_create, R"({"name":"f","type":"zfs","path":"/x"})", "type");
  expect_field(parse_pool_create, R"({"name":"f","type":"dir","path":"x"})", "path");
  expect_field(parse_pool_create, R"({"name":"f","type":"dir","path":"/"})", "path");
  expect_field(parse_pool_create, R"({"name":"f","type":"dir","path":"/a/../b"})", "path");
  expect_field(parse_pool_create, R"({"name":"f","type":"dir","path":"/x","size_bytes":5})",
               "size_bytes");
  expect_field(parse_pool_create, R"({"name":"f","type":"partitioned","path":"/x","size_bytes":0})",
               "size_bytes");
  expect_field(parse_pool_create, R"({"name":"f","type":"dir","path":"/x","extra":1})", "extra");
  EXPECT_EQ(parse_pool_create("[1]").error().code, ApiErrc::validation_failed);
  EXPECT_EQ(parse_pool_create("{").error().code, ApiErrc::invalid_json);
}

TEST(PoolValidation, DiskCreatePatchImportAttach) {
  auto d = parse_disk_create(R"({"name":"root","pool":"fast","size_bytes":1048576})");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->format, "raw");
  d = parse_disk_create(
      R"({"name":"o","pool":"0b5e8a57-1c1e-4f51-9d7c-6a4f3a2b1c0d","size_bytes":512,"format":"qcow2","backing":"root"})");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->backing, "root");
  expect_field(parse_disk_create, R"({"name":"r","size_bytes":1})", "pool");
  expect_field(parse_disk_create, R"({"name":"r","pool":"Bad Name","size_bytes":1})", "pool");
  expect_field(parse_disk_create, R"({"name":"r","pool":"p"})", "size_bytes");
  expect_field(parse_disk_create, R"({"name":"r","pool":"p","size_bytes":0})", "size_bytes");
  expect_field(parse_disk_create, R"({"name":"r","pool":"p","size_bytes":1.5})", "size_bytes");
  expect_field(parse_disk_create, R"({"name":"r","pool":"p","size_bytes":18446744073709551615})",
               "size_bytes");
  expect_field(parse_disk_create, R"({"name":"r","pool":"p","size_bytes":1,"format":"vdi"})",
               "format");
  expect_field(parse_disk_create, R"({"name":"r","pool":"p","size_bytes":1,"backing":7})",
               "backing");

  ASSERT_TRUE(parse_disk_patch(R"({"size_bytes":2097152})").ok());
  expect_field(parse_disk_patch, R"({})", "size_bytes");
  expect_field(parse_disk_patch, R"({"size_bytes":1,"format":"raw"})", "format");

  auto i = parse_disk_import(R"({"name":"i","pool":"p","source_path":"/srv/a.qcow2"})");
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(i->format, "");
  expect_field(parse_disk_import, R"({"name":"i","pool":"p"})", "source_path");
  expect_field(parse_disk_import, R"({"name":"i","pool":"p","source_path":"rel"})", "source_path");
  expect_field(parse_disk_import, R"({"name":"i","pool":"p","source_path":"/a","format":"x"})",
               "format");

  auto a = parse_disk_attach(R"({"disk":"root","read_only":true})");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->read_only);
  expect_field(parse_disk_attach, R"({})", "disk");
  expect_field(parse_disk_attach, R"({"disk":"root","read_only":"yes"})", "read_only");
}

TEST(PoolValidation, VmDisksMayNameTheirPoolDisk) {
  const std::string id = "0b5e8a57-1c1e-4f51-9d7c-6a4f3a2b1c0d";
  auto spec =
      parse_vm_create(R"({"name":"a","boot":{"kernel":"/k"},"disks":[{"path":"/p","disk":")" + id +
                      R"("},{"path":"/q","disk":null}]})");
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->disks[0].disk_id, id);
  EXPECT_EQ(spec->disks[1].disk_id, "");
  expect_field(parse_vm_create,
               R"({"name":"a","boot":{"kernel":"/k"},"disks":[{"path":"/p","disk":"root"}]})",
               "disks[0].disk");
}

}  // namespace
}  // namespace flotilla::api
