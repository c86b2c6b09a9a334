// The pool, disk and `vm disk` subcommands.
#include "cli/storage_args.h"

#include "cli/storage_requests.h"

namespace flotilla::cli {

struct StorageCommands {
  CLI::App *pool_create, *pool_list, *pool_show, *pool_delete;
  CLI::App *disk_create, *disk_list, *disk_show, *disk_resize, *disk_delete, *disk_import;
  CLI::App *attach, *detach;
  CLI::Option *pool_size, *backing, *import_format;
  std::string subject, name, type, path, size, pool, format = "raw", backing_value, vm;
  bool read_only = false, no_wait = false;
};

void StorageCommandsDeleter::operator()(StorageCommands* s) const {
  delete s;
}

StorageCommandsPtr add_storage_commands(CLI::App& app, CLI::App& vm) {
  StorageCommandsPtr p(new StorageCommands{});
  StorageCommands& s = *p;
  auto* pool = app.add_subcommand("pool", "Disk pools")->require_subcommand(1);
  s.pool_create = pool->add_subcommand("create", "Create a pool (admin)");
  s.pool_create->add_option("name", s.name, "Pool name")->required();
  s.pool_create->add_option("--type", s.type, "dir|partitioned")
      ->required()
      ->check(CLI::IsMember({"dir", "partitioned"}));
  s.pool_create->add_option("--path", s.path, "Folder (dir) or device/file (partitioned)")
      ->required();
  s.pool_size = s.pool_create->add_option(
      "--size", s.size, "partitioned: size of the file to create (bytes or 10G, 512M...)");
  s.pool_list = pool->add_subcommand("list", "List pools with capacity and usage");
  s.pool_show = pool->add_subcommand("show", "Show one pool");
  s.pool_show->add_option("pool", s.subject, "Pool name or id")->required();
  s.pool_delete = pool->add_subcommand("delete", "Delete an empty pool (admin)");
  s.pool_delete->add_option("pool", s.subject, "Pool name or id")->required();

  auto* disk = app.add_subcommand("disk", "Disks in pools")->require_subcommand(1);
  s.disk_create = disk->add_subcommand("create", "Create a disk");
  s.disk_create->add_option("name", s.name, "Disk name")->required();
  s.disk_create->add_option("--pool", s.pool, "Pool name or id")->required();
  s.disk_create->add_option("--size", s.size, "Size (bytes or 10G, 512M...)")->required();
  s.disk_create->add_option("--format", s.format, "raw|qcow2")
      ->check(CLI::IsMember({"raw", "qcow2"}));
  s.backing = s.disk_create->add_option("--backing", s.backing_value,
                                        "qcow2 overlay on this disk (name or id)");
  s.disk_list = disk->add_subcommand("list", "List disks");
  s.disk_show = disk->add_subcommand("show", "Show one disk");
  s.disk_show->add_option("disk", s.subject, "Disk name or id")->required();
  s.disk_resize = disk->add_subcommand("resize", "Grow a disk");
  s.disk_resize->add_option("disk", s.subject, "Disk name or id")->required();
  s.disk_resize->add_option("--size", s.size, "New size (bytes or 10G, 512M...)")->required();
  s.disk_delete = disk->add_subcommand("delete", "Delete a detached disk");
  s.disk_delete->add_option("disk", s.subject, "Disk name or id")->required();
  s.disk_import = disk->add_subcommand("import", "Import an image file as a new disk");
  s.disk_import->add_option("name", s.name, "New disk name")->required();
  s.disk_import->add_option("--pool", s.pool, "Pool name or id")->required();
  s.disk_import->add_option("--source", s.path, "Image file (raw or qcow2)")->required();
  s.import_format = s.disk_import->add_option("--format", s.format, "New disk's format")
                        ->check(CLI::IsMember({"raw", "qcow2"}));
  s.disk_import->add_flag("--no-wait", s.no_wait, "Return once the API accepted the request");

  auto* vdisk = vm.add_subcommand("disk", "Attach or detach pool disks")->require_subcommand(1);
  s.attach = vdisk->add_subcommand("attach", "Attach a disk to a stopped VM");
  s.attach->add_option("vm", s.vm, "VM name or id")->required();
  s.attach->add_option("disk", s.subject, "Disk name or id")->required();
  s.attach->add_flag("--read-only", s.read_only, "The guest may only read it");
  s.detach = vdisk->add_subcommand("detach", "Detach a disk from a stopped VM");
  s.detach->add_option("vm", s.vm, "VM name or id")->required();
  s.detach->add_option("disk", s.subject, "Disk name or id")->required();
  return p;
}

Result<bool, UsageError> build_storage(const StorageCommands& s, Invocation& inv) {
  auto size = [&]() { return parse_size(s.size); };
  inv.subject = !s.subject.empty() ? s.subject : s.name;
  if (s.pool_create->parsed()) {
    PoolCreateArgs a{s.name, s.type, s.path, std::nullopt};
    if (s.pool_size->count() > 0) {
      auto n = size();
      if (!n) return fail(n.error());
      a.size_bytes = *n;
    }
    inv.command = Command::kPoolCreate, inv.request = pool_create_request(a);
  } else if (s.pool_list->parsed()) {
    inv.command = Command::kPoolList, inv.request = pool_list_request();
  } else if (s.pool_show->parsed()) {
    inv.command = Command::kPoolShow, inv.request = pool_show_request(s.subject);
  } else if (s.pool_delete->parsed()) {
    inv.command = Command::kPoolDelete, inv.request = pool_delete_request(s.subject);
  } else if (s.disk_create->parsed()) {
    auto n = size();
    if (!n) return fail(n.error());
    DiskCreateArgs a{s.name, s.pool, *n, s.format, std::nullopt};
    if (s.backing->count() > 0) a.backing = s.backing_value;
    inv.command = Command::kDiskCreate, inv.request = disk_create_request(a);
  } else if (s.disk_list->parsed()) {
    inv.command = Command::kDiskList, inv.request = disk_list_request();
  } else if (s.disk_show->parsed()) {
    inv.command = Command::kDiskShow, inv.request = disk_show_request(s.subject);
  } else if (s.disk_resize->parsed()) {
    auto n = size();
    if (!n) return fail(n.error());
    inv.command = Command::kDiskResize, inv.request = disk_resize_request(s.subject, *n);
  } else if (s.disk_delete->parsed()) {
    inv.command = Command::kDiskDelete, inv.request = disk_delete_request(s.subject);
  } else if (s.disk_import->parsed()) {
    DiskImportArgs a{s.name, s.pool, s.path, std::nullopt};
    if (s.import_format->count() > 0) a.format = s.format;
    inv.command = Command::kDiskImport, inv.request = disk_import_request(a);
    inv.action = "import";
    inv.wait = !s.no_wait;
    // A copy takes as long as it takes; --timeout still bounds each request.
    inv.wait_timeout =
        std::max<std::chrono::milliseconds>(inv.connection.timeout, std::chrono::hours(24));
  } else if (s.attach->parsed()) {
    inv.command = Command::kVmDiskAttach;
    inv.request = vm_disk_attach_request(s.vm, s.subject, s.read_only);
    inv.subject = s.vm;
  } else if (s.detach->parsed()) {
    inv.command = Command::kVmDiskDetach;
    inv.request = vm_disk_detach_request(s.vm, s.subject);
    inv.subject = s.vm;
  } else {
    return false;
  }
  return true;
}

}  // namespace flotilla::cli
