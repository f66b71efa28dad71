// Inputs scripts/fuzz.sh found (tests/data/fuzz_regressions/), each checked as its fuzz target
// checks it: refused with one line, nothing worse.
#include <seqtorch/data/csv.h>
#include <seqtorch/data/series.h>
#include <seqtorch/util/file_system.h>

#include "support/test_util.h"

#include <gtest/gtest.h>

namespace seqtorch::data {
namespace {

std::string regression(const std::string& name) {
  return util::join_path(util::join_path(util::parent_path(__FILE__), "fuzz_regressions"), name);
}

TEST(FuzzRegressions, CsvColumnNameWithANewlineGivesAOneLineMessage) {
  // A quoted header field holding a newline and invalid UTF-8; the column has no number. The
  // message named the column raw, over two lines.
  const auto t = read_csv(regression("csv_newline_in_column_name.csv"));
  ASSERT_EQ(t.header.size(), 2u);
  try {
    select_series(t, {t.header[1]}, {}, t.header[0], FillMethod::linear);
    ADD_FAILURE() << "a column without numbers was accepted";
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_NE(msg.find("column '\\x0a\\xff\\xff\\xff51,\\xff\\xff5' has no numeric value at all"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace seqtorch::data
