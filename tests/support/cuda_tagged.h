#pragma once
// A checkpoint as a CUDA run writes it, made on any machine: a copy of an archive in which every
// tensor storage says it was saved from "cuda:0". The CPU tests of the device rules load such
// files; without a GPU, reading one without mapping it to the CPU fails.
#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <string>

namespace seqtorch::test {

/// Copies the TorchScript archive `from` to `to`, with the location of every tensor storage in
/// data.pkl changed from "cpu" to "cuda:0". Returns how many locations were changed (the pickle
/// memoises strings, so usually 1).
inline int retag_storages_as_cuda(const std::string& from, const std::string& to) {
  // data.pkl is pickle protocol 2: a string is BINUNICODE ('X'), a 4-byte little-endian length,
  // the bytes. Nothing in a pickle points at byte offsets, so a string may change its length.
  const std::string cpu("X\x03\x00\x00\x00" "cpu", 8), cuda("X\x06\x00\x00\x00" "cuda:0", 11);
  caffe2::serialize::PyTorchStreamReader reader(from);
  caffe2::serialize::PyTorchStreamWriter writer(to);
  int changed = 0;
  for (const auto& name : reader.getAllRecords()) {
    // The writer adds its own version, byte order and id records.
    if (name == "version" || name == ".data/version" || name == "byteorder" ||
        name == ".data/serialization_id")
      continue;
    auto record = reader.getRecord(name);
    std::string bytes(static_cast<const char*>(std::get<0>(record).get()), std::get<1>(record));
    if (name == "data.pkl") {
      for (size_t at = bytes.find(cpu); at != std::string::npos; at = bytes.find(cpu, at + cuda.size())) {
        bytes.replace(at, cpu.size(), cuda);
        ++changed;
      }
    }
    writer.writeRecord(name, bytes.data(), bytes.size());
  }
  writer.writeEndOfFile();
  return changed;
}

}  // namespace seqtorch::test
