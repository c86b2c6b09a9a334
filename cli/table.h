// Plain-text layout for people: aligned tables and key/value blocks, columns sized to content.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flotilla::cli {

// Display width of UTF-8 text: one column per code point (no wide/combining handling).
std::size_t display_width(std::string_view text);

class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // Missing cells are rendered empty; extra cells are an invariant violation (abort).
  void add_row(std::vector<std::string> cells);
  std::size_t rows() const { return rows_.size(); }

  // Header line then one line per row; columns separated by two spaces, every line ends with
  // '\n' and carries no trailing blanks. Cells containing '\n' or '\t' have them replaced by ' '.
  std::string render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// "key:  value" lines with the values aligned after the longest key.
std::string render_key_values(const std::vector<std::pair<std::string, std::string>>& pairs);

}  // namespace flotilla::cli
