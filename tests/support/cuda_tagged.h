#pragma once
// A checkpoint as a CUDA run writes it, made on any machine: a copy of an archive in which every
// tensor storage says it was saved from "cuda:0". The CPU tests of the device rules load such
// files; without a GPU, reading one without mapping it to the CPU fails.
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/file_system.h>

#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <sstream>
#include <string>

namespace seqtorch::test {

/// Copies the checkpoint `from` to `to` (a checked container around the archive, as
/// save_checkpoint writes it), with the location of every tensor storage in
/// data.pkl changed from "cpu" to "cuda:0". Returns how many locations were changed (the pickle
/// memoises strings, so usually 1).
inline int retag_storages_as_cuda(const std::string& from, const std::string& to) {
  // data.pkl is pickle protocol 2: a string is BINUNICODE ('X'), a 4-byte little-endian length,
  // the bytes. Nothing in a pickle points at byte offsets, so a string may change its length.
  const std::string cpu("X\x03\x00\x00\x00" "cpu", 8), cuda("X\x06\x00\x00\x00" "cuda:0", 11);
  std::istringstream in(train::checkpoint_archive(util::read_file(from), from));
  caffe2::serialize::PyTorchStreamReader reader(&in);
  std::string out;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) {
    out.append(static_cast<const char*>(data), n);
    return n;
  });
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
  util::write_file_atomically(to, train::checkpoint_file(out));
  return changed;
}

}  // namespace seqtorch::test
