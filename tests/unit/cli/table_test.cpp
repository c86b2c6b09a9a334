#include "cli/table.h"

#include <gtest/gtest.h>

namespace flotilla::cli {
namespace {

TEST(Table, ColumnsAreSizedToTheWidestCellAndLinesHaveNoTrailingBlanks) {
  Table t({"NAME", "ID", "STATE"});
  t.add_row({"web-1", "a", "running"});
  t.add_row({"x", "long-identifier", ""});
  EXPECT_EQ(t.render(),
            "NAME   ID               STATE\n"
            "web-1  a                running\n"
            "x      long-identifier\n");
}

TEST(Table, HeaderOnlyWhenEmpty) {
  Table t({"A", "BB"});
  EXPECT_EQ(t.rows(), 0u);
  EXPECT_EQ(t.render(), "A  BB\n");
}

TEST(Table, ShortRowsArePaddedWithEmptyCells) {
  Table t({"A", "B", "C"});
  t.add_row({"1"});
  t.add_row({"22", "x", "y"});
  EXPECT_EQ(t.render(), "A   B  C\n1\n22  x  y\n");
}

TEST(Table, Utf8CellsAreAlignedByCodePoints) {
  Table t({"N", "V"});
  t.add_row({"héllo", "1"});
  t.add_row({"ab", "2"});
  EXPECT_EQ(t.render(), "N      V\nhéllo  1\nab     2\n");
  EXPECT_EQ(display_width("héllo"), 5u);
  EXPECT_EQ(display_width("日本"), 2u);
}

TEST(Table, ControlCharactersInCellsDoNotBreakLines) {
  Table t({"A", "B"});
  t.add_row({"x\ny", "t\tz"});
  EXPECT_EQ(t.render(), "A    B\nx y  t z\n");
}

TEST(KeyValues, ValuesAlignAfterTheLongestKey) {
  EXPECT_EQ(render_key_values({{"id", "1"}, {"memory", "128 MiB"}, {"x", ""}}),
            "id:      1\n"
            "memory:  128 MiB\n"
            "x:\n");
}

}  // namespace
}  // namespace flotilla::cli
