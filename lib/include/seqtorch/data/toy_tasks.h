#pragma once
// Built-in translation tasks generated in-process, for the demo and the tests:
//   dates    a date written in one of 12 ways ("Thursday 26 November 2026", "26/11/26",
//            "Nov 26, 2026", ...) -> "2026-11-26"; years 1950-2049
//   numbers  English number words ("three hundred forty-two thousand seven") -> "342007";
//            0 to 999999
//   roman    Roman numerals ("MMXXVI") -> "2026"; 1 to 3999
// Held-out examples are those whose target falls in a fixed tenth of the targets (by a hash of
// the target), so a test set never shares a target with a training set.
#include <seqtorch/data/parallel.h>

#include <cstdint>
#include <string>
#include <vector>

namespace seqtorch::data {

/// Which examples to generate.
enum class ToySplit { train, test, all };

/// The names of the built-in tasks: dates, numbers, roman.
std::vector<std::string> toy_task_names();
/// `count` examples of task `name` (throws naming the valid tasks otherwise), drawn with `seed`.
std::vector<SentencePair> generate_toy_task(const std::string& name, int64_t count, uint64_t seed,
                                            ToySplit split);

}  // namespace seqtorch::data
