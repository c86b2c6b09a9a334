#include "cli/table.h"

#include <algorithm>
#include <cstdlib>

namespace flotilla::cli {
namespace {

std::string sanitize(std::string_view cell) {
  std::string out(cell);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\n' || c == '\t' || c == '\r'; }, ' ');
  return out;
}

void append_padded(std::string& line, const std::string& cell, std::size_t width) {
  line += cell;
  line.append(width - std::min(width, display_width(cell)), ' ');
}

void trim_right(std::string& line) {
  while (!line.empty() && line.back() == ' ') line.pop_back();
}

}  // namespace

std::size_t display_width(std::string_view text) {
  std::size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++width;  // count lead bytes, skip continuation bytes
  }
  return width;
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::add_row(std::vector<std::string> cells) {
  if (cells.size() > headers_.size()) std::abort();  // broken invariant: row wider than header
  cells.resize(headers_.size());
  for (auto& cell : cells) cell = sanitize(cell);
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  std::vector<std::size_t> widths(headers_.size());
  for (std::size_t c = 0; c < headers_.size(); ++c) widths[c] = display_width(headers_[c]);
  for (const auto& row : rows_) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], display_width(row[c]));
    }
  }
  auto render_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      if (c > 0) line += "  ";
      append_padded(line, cells[c], widths[c]);
    }
    trim_right(line);
    return line + '\n';
  };
  std::string out = render_line(headers_);
  for (const auto& row : rows_) out += render_line(row);
  return out;
}

std::string render_key_values(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::size_t width = 0;
  for (const auto& [key, value] : pairs) width = std::max(width, display_width(key) + 1);
  std::string out;
  for (const auto& [key, value] : pairs) {
    std::string line;
    append_padded(line, key + ":", width);
    line += "  ";
    line += sanitize(value);
    trim_right(line);
    out += line + '\n';
  }
  return out;
}

}  // namespace flotilla::cli
