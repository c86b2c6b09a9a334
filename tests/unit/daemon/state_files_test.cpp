// The state folder layout, durable writes and the host id.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "common/uuid.h"
#include "daemon/state_files.h"

namespace flotilla::daemon {
namespace {

TEST(StateFiles, LayoutTokenFileAndHostId) {
  char tmpl[] = "/tmp/flotilla-state-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = std::string(tmpl) + "/state";
  ASSERT_TRUE(make_state_layout(dir).ok());
  ASSERT_TRUE(make_state_layout(dir).ok());  // idempotent
  for (const char* sub : {"/run", "/log", "/vms"}) {
    EXPECT_TRUE(std::filesystem::is_directory(dir + sub)) << sub;
  }
  ASSERT_TRUE(write_file_durably(dir + "/admin.token", "secret\n", 0600).ok());
  struct stat st {};
  ASSERT_EQ(stat((dir + "/admin.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(dir + "/admin.token.tmp"));
  auto id = load_or_create_host_id(dir);
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(is_uuid(*id));
  EXPECT_EQ(load_or_create_host_id(dir).value(), *id);
  EXPECT_FALSE(write_file_durably(dir + "/missing/x", "", 0600).ok());
  std::ofstream(std::string(tmpl) + "/file") << "x";
  EXPECT_FALSE(make_state_layout(std::string(tmpl) + "/file").ok());
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace flotilla::daemon
