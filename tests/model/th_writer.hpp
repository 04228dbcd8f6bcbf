// Test helper: writes torch.save zip archives (STORED entries) and demucs `.th` checkpoints, so
// that tests can make the malformed or unusual files the reference checkpoints are not.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "rz/demucs/checkpoint.hpp"

namespace rz::test::th {

// `v` as `bytes` little-endian bytes.
std::string le(uint64_t v, int bytes);

// Bitwise CRC-32: slow, obviously right, and independent of the library's table version.
uint32_t crc32_bitwise(const std::string& data);

struct ZipEntryIn {
  std::string name;
  std::string data;
  uint16_t method = 0;   // 0 stored; anything else is only written into the headers
  bool bad_crc = false;  // write a wrong CRC-32
  size_t local_pad = 0;  // extra-field padding in the local header (torch aligns data to 64)
};

// A zip archive; with `zip64`, also the zip64 end-of-central-directory record and locator (and
// 0xffff/0xffffffff in the classic record, as large archives have). Throws std::runtime_error
// when the file cannot be written.
void write_zip(const std::filesystem::path& path, const std::vector<ZipEntryIn>& entries,
               bool zip64);

// Whole file as bytes / bytes to a file; throw std::runtime_error on failure.
std::string read_bytes(const std::filesystem::path& path);
void write_bytes(const std::filesystem::path& path, const std::string& bytes);

// Pickle fragments (protocol 2 opcodes, as torch.save writes them).
namespace pk {

std::string str(const std::string& s);  // BINUNICODE
std::string integer(int32_t v);         // BININT
std::string global(const std::string& module, const std::string& name);
std::string tuple(const std::vector<std::string>& items);
// A list or dict; empty ones are the bare EMPTY_LIST "]" / EMPTY_DICT "}", as pickle writes them.
std::string list(const std::vector<std::string>& items);
std::string dict(const std::vector<std::pair<std::string, std::string>>& items);
// A tuple of BININTs.
std::string ints(const std::vector<int64_t>& v);
// A JSON value as the Python value demucs would have pickled: null -> None, bools, ints (BININT,
// or LONG1 beyond 32 bits), floats (BINFLOAT), strings, arrays -> lists, objects -> dicts.
std::string value(const nlohmann::json& v);
// torch._utils._rebuild_tensor_v2 of storage `key`, exactly as torch 1.13 writes it.
std::string tensor(const std::string& storage_type, const std::string& key, int numel, int offset,
                   const std::vector<int64_t>& shape, const std::vector<int64_t>& strides);
// The top-level dict of demucs.states.serialize_model: klass, args (), kwargs, state,
// training_args.
std::string checkpoint(const std::string& kwargs, const std::string& state,
                       const std::string& training_args = "}",
                       const std::string& klass = global("demucs.htdemucs", "HTDemucs"));

}  // namespace pk

enum class Storage { kHalf, kFloat };

// Writes `ck` as demucs' trainer would (serialize_model + torch.save): archive/data.pkl with the
// dict above (klass split at its last '.', args as a tuple, kwargs via pk::value, one contiguous
// tensor per state entry in its own storage "0", "1", ... of `storage` type, training_args {}),
// archive/data/<n> aligned to 64 bytes, and archive/version. ck.sha256 and ck.name are ignored:
// the file name decides whether readers check a hash. Values must be representable in fp16 when
// `storage` is kHalf (they are for tensors read from a half checkpoint); otherwise this throws
// std::invalid_argument.
void write_checkpoint(const std::filesystem::path& path, const rz::demucs::Checkpoint& ck,
                      Storage storage = Storage::kHalf);

}  // namespace rz::test::th
