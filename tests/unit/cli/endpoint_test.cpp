#include <gtest/gtest.h>

#include "cli/http_client.h"

namespace flotilla::cli {
namespace {

TEST(ParseUrl, HttpWithPort) {
  auto ep = parse_url("http://127.0.0.1:8470");
  ASSERT_TRUE(ep.ok()) << ep.error().message;
  EXPECT_EQ(ep->transport, Transport::kTcp);
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, "8470");
  EXPECT_EQ(ep->base_path, "");
  EXPECT_EQ(describe(*ep), "http://127.0.0.1:8470");
}

TEST(ParseUrl, DefaultPortsAndBasePath) {
  auto ep = parse_url("https://flotilla.example/api/");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->transport, Transport::kTls);
  EXPECT_EQ(ep->port, "443");
  EXPECT_EQ(ep->base_path, "/api");
  EXPECT_EQ(parse_url("http://h")->port, "80");
}

TEST(ParseUrl, BracketedIpv6) {
  auto ep = parse_url("http://[::1]:9000");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->port, "9000");
  EXPECT_EQ(describe(*ep), "http://[::1]:9000");
}

TEST(ParseUrl, UnixSocketForms) {
  EXPECT_EQ(parse_url("unix:/run/f.sock")->socket_path, "/run/f.sock");
  EXPECT_EQ(parse_url("unix:///run/f.sock")->socket_path, "/run/f.sock");
  EXPECT_EQ(parse_url("unix:rel.sock")->transport, Transport::kUnix);
}

TEST(ParseUrl, RejectsMalformed) {
  for (const char* bad :
       {"", "ftp://x", "127.0.0.1:8470", "http://", "http://:80", "http://h:", "http://h:0",
        "http://h:70000", "http://h:8x", "http://[::1", "http://u:p@h", "http://h/?q", "unix:"}) {
    auto ep = parse_url(bad);
    ASSERT_FALSE(ep.ok()) << bad;
    EXPECT_EQ(ep.error().code, HttpErrorCode::kInvalidUrl);
    EXPECT_NE(ep.error().message.find("invalid url"), std::string::npos);
  }
}

TEST(EncodePathSegment, KeepsUnreservedAndEscapesTheRest) {
  EXPECT_EQ(encode_path_segment("web-1_a.b~"), "web-1_a.b~");
  EXPECT_EQ(encode_path_segment("../x y/%"), "..%2Fx%20y%2F%25");
  EXPECT_EQ(encode_path_segment("\xC3\xA9"), "%C3%A9");
}

TEST(HttpResponse, HeaderLookupIgnoresCase) {
  HttpResponse r;
  r.headers = {{"X-Request-Id", "abc"}, {"content-type", "application/json"}};
  EXPECT_EQ(r.header("x-request-id"), "abc");
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.header("missing"), "");
}

}  // namespace
}  // namespace flotilla::cli
