// The restricted pickle machine: opcodes of protocols 0 to 5 that build data, the calls a
// torch.save checkpoint makes evaluated by hand, and the conversion of its values to JSON.
#include "rz/formats/pickle.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <deque>
#include <sstream>
#include <stdexcept>

#include "rz/error.hpp"
#include "rz/formats/bytes.hpp"

namespace fs = std::filesystem;

namespace rz::formats {

namespace {

// Objects the pickle machine may build (each about 240 bytes): a demucs pickle builds about ten
// per tensor, some thousands in all; 2^21 (about 500 MB) is far above any real state dict, and
// keeps a pickle of a hundred million one-byte opcodes from taking 25 GB.
constexpr size_t kMaxPickleObjects = size_t{1} << 21;
// Pickle opcodes between two checks for a pending interrupt.
constexpr size_t kOpsPerInterruptCheck = size_t{1} << 16;

// Names of all pickle opcodes (protocols 0-5), for error messages: the i-th word of kNames
// names the opcode kOpcodes[i]. Empty for a byte that is no opcode.
std::string opcode_name(uint8_t op) {
  static constexpr char kOpcodes[] =
      "(.012FIJKLMNPQRSTUVXabcd}eghijl]opqrst)"
      "uGBC\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95"
      "\x96\x97\x98";
  static constexpr const char* kNames =
      "MARK STOP POP POP_MARK DUP FLOAT INT BININT BININT1 LONG BININT2 NONE PERSID BINPERSID "
      "REDUCE STRING BINSTRING SHORT_BINSTRING UNICODE BINUNICODE APPEND BUILD GLOBAL DICT "
      "EMPTY_DICT APPENDS GET BINGET INST LONG_BINGET LIST EMPTY_LIST OBJ PUT BINPUT "
      "LONG_BINPUT SETITEM TUPLE EMPTY_TUPLE SETITEMS BINFLOAT BINBYTES SHORT_BINBYTES PROTO "
      "NEWOBJ EXT1 EXT2 EXT4 TUPLE1 TUPLE2 TUPLE3 NEWTRUE NEWFALSE LONG1 LONG4 "
      "SHORT_BINUNICODE BINUNICODE8 BINBYTES8 EMPTY_SET ADDITEMS FROZENSET NEWOBJ_EX "
      "STACK_GLOBAL MEMOIZE FRAME BYTEARRAY8 NEXT_BUFFER READONLY_BUFFER";
  const void* hit = op == 0 ? nullptr : std::memchr(kOpcodes, op, sizeof(kOpcodes) - 1);
  if (!hit) return "";
  std::istringstream words(kNames);
  std::string name;
  for (auto i = static_cast<const char*>(hit) - kOpcodes; i >= 0; --i) words >> name;
  return name;
}

std::string hex_byte(uint8_t b) {
  static const char* kDigits = "0123456789abcdef";
  return std::string("0x") + kDigits[b >> 4] + kDigits[b & 15];
}

// `text`, a string or key of `where`, counted against the budget.
const std::string& charged(const std::string& text, const std::string& where, const fs::path& path,
                           JsonBudget& budget) {
  budget.text_bytes -= static_cast<int64_t>(text.size());
  if (budget.text_bytes < 0) {
    bad_checkpoint(path, where + " expands to more than " + std::to_string(kMaxTextCopyBytes) +
                             " bytes of text (shared references repeated)");
  }
  return text;
}

}  // namespace

const char* kind_name(Kind k) {
  static constexpr const char* kNames[] = {"None",    "bool",   "int",   "float", "str",
                                           "bytes",   "list",   "tuple", "dict",  "global",
                                           "storage", "tensor", "object"};
  return kNames[static_cast<int>(k)];
}

class Unpickler::Machine {
 public:
  Machine(const std::vector<uint8_t>& bytes, const fs::path& path,
          const std::vector<std::string>& calls)
      : p_(bytes.data()), size_(bytes.size()), path_(path), calls_(calls) {}

  const Object* load() {
    for (size_t ops = 0;; ++ops) {
      if (ops % kOpsPerInterruptCheck == 0) throw_if_interrupted();
      op_pos_ = pos_;
      const uint8_t op = u8();
      switch (op) {
        case 0x80:  // PROTO
          if (u8() > 5) fail("pickle protocol above 5");
          break;
        case 0x95:  // FRAME: a length hint only
          take(8);
          break;
        case '.': {  // STOP
          const Object* result = pop();
          if (!stack_.empty() || !marks_.empty()) fail("data left on the stack at STOP");
          return result;
        }

        case 'N':
          push(make(Kind::kNone));
          break;
        case 0x88:
          push(make_bool(true));
          break;
        case 0x89:
          push(make_bool(false));
          break;
        case 'J':
          push(make_int(static_cast<int32_t>(le32(take(4)))));
          break;
        case 'K':
          push(make_int(u8()));
          break;
        case 'M':
          push(make_int(le16(take(2))));
          break;
        case 0x8a:
          push(make_long(u8()));
          break;
        case 0x8b:
          push(make_long(length(le32(take(4)))));
          break;
        case 'I':
          push(make_text_int(line()));
          break;
        case 'L':
          push(make_text_int(line()));
          break;
        case 'G': {
          const uint8_t* b = take(8);
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | b[i];  // big-endian
          double v;
          std::memcpy(&v, &bits, sizeof v);
          push(make_float(v));
          break;
        }
        case 'F':
          push(make_float(parse_double(line())));
          break;

        case 'X':
          push(make_string(Kind::kString, length(le32(take(4)))));
          break;
        case 0x8c:
          push(make_string(Kind::kString, u8()));
          break;
        case 0x8d:
          push(make_string(Kind::kString, length(le64(take(8)))));
          break;
        case 'T':
          push(make_string(Kind::kString, length(le32(take(4)))));
          break;
        case 'U':
          push(make_string(Kind::kString, u8()));
          break;
        case 'B':
          push(make_string(Kind::kBytes, length(le32(take(4)))));
          break;
        case 'C':
          push(make_string(Kind::kBytes, u8()));
          break;
        case 0x8e:
          push(make_string(Kind::kBytes, length(le64(take(8)))));
          break;
        case 0x96:
          push(make_string(Kind::kBytes, length(le64(take(8)))));
          break;

        case '}':
          push(make(Kind::kDict));
          break;
        case ']':
          push(make(Kind::kList));
          break;
        case ')':
          push(make(Kind::kTuple));
          break;
        case 0x8f:
          push(make(Kind::kList));
          break;  // EMPTY_SET: a list is enough here
        case 'd': {
          std::vector<Object*> kv = pop_mark();
          Object* d = make(Kind::kDict);
          set_items(d, kv);
          push(d);
          break;
        }
        case 'l': {
          Object* l = make(Kind::kList);
          l->items = pop_mark();
          push(l);
          break;
        }
        case 0x91:  // FROZENSET
        case 't': {
          Object* t = make(op == 't' ? Kind::kTuple : Kind::kList);
          t->items = pop_mark();
          push(t);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {
          const size_t n = op - 0x84u;
          if (above_mark() < n) fail("stack underflow");
          Object* t = make(Kind::kTuple);
          t->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
          stack_.resize(stack_.size() - n);
          push(t);
          break;
        }
        case 's': {
          Object* value = pop();
          Object* key = pop();
          std::vector<Object*> kv{key, value};
          set_items(top(Kind::kDict), kv);
          break;
        }
        case 'u': {
          std::vector<Object*> kv = pop_mark();
          set_items(top(Kind::kDict), kv);
          break;
        }
        case 'a': {
          Object* value = pop();
          top(Kind::kList)->items.push_back(value);
          break;
        }
        case 'e':
        case 0x90: {  // APPENDS, ADDITEMS
          std::vector<Object*> values = pop_mark();
          Object* l = top(Kind::kList);
          l->items.insert(l->items.end(), values.begin(), values.end());
          break;
        }

        case '(':
          marks_.push_back(stack_.size());
          break;
        case '0':
          pop();
          break;
        case '1':
          pop_mark();
          break;
        case '2':
          push(top());
          break;

        case 'q':
          memo_[u8()] = top();
          break;
        case 'r':
          memo_[le32(take(4))] = top();
          break;
        case 0x94:
          memo_[memo_.size()] = top();
          break;
        case 'p':
          memo_[static_cast<uint64_t>(parse_int(line()))] = top();
          break;
        case 'h':
          push(memo_get(u8()));
          break;
        case 'j':
          push(memo_get(le32(take(4))));
          break;
        case 'g':
          push(memo_get(static_cast<uint64_t>(parse_int(line()))));
          break;

        case 'c': {
          std::string module = line();
          std::string name = line();
          push(make_global(module, name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          Object* name = pop();
          Object* module = pop();
          if (module->kind != Kind::kString || name->kind != Kind::kString) {
            fail("STACK_GLOBAL needs two strings");
          }
          push(make_global(module->text, name->text));
          break;
        }
        case 'R': {
          Object* args = pop();
          Object* callable = pop();
          push(call(callable, args));
          break;
        }
        case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
          Object* args = pop();
          Object* cls = pop();
          push(call(cls, args));
          break;
        }
        case 0x92: {  // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
          Object* kwargs = pop();
          Object* args = pop();
          Object* cls = pop();
          push(kwargs->kind == Kind::kDict && kwargs->entries.empty() ? call(cls, args)
                                                                      : opaque(cls));
          break;
        }
        case 'b': {  // BUILD: obj.__setstate__(state); only unknown objects get one here, and
                     // an OrderedDict, whose state (a state dict's `_metadata` attribute, the
                     // module versions) sets attributes and leaves its items alone
          pop();
          Object* obj = top();
          if (obj->kind != Kind::kOpaque &&
              !(obj->kind == Kind::kDict && obj->type_name == kCallOrderedDict)) {
            fail(std::string("BUILD on a ") + kind_name(obj->kind) + " is not supported");
          }
          break;
        }
        case 'Q':
          push(persistent(pop()));
          break;

        default: {
          const std::string name = opcode_name(op);
          fail(name.empty() ? "unknown pickle opcode " + hex_byte(op)
                            : "unsupported pickle opcode " + name + " (" + hex_byte(op) + ")");
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& reason) const {
    bad_checkpoint(path_, reason + " at byte " + std::to_string(op_pos_) + " of data.pkl");
  }

  const uint8_t* take(size_t n) {
    if (size_ - pos_ < n) fail("pickle truncated");
    const uint8_t* p = p_ + pos_;
    pos_ += n;
    return p;
  }
  uint8_t u8() { return *take(1); }
  size_t length(uint64_t n) {
    if (n > size_ - pos_) fail("pickle truncated");
    return static_cast<size_t>(n);
  }
  std::string line() {
    const void* nl = std::memchr(p_ + pos_, '\n', size_ - pos_);
    if (!nl) fail("pickle truncated");
    const size_t n = static_cast<size_t>(static_cast<const uint8_t*>(nl) - (p_ + pos_));
    std::string s(reinterpret_cast<const char*>(take(n)), n);
    take(1);
    return s;
  }

  Object* make(Kind kind) {
    if (arena_.size() >= kMaxPickleObjects) {
      fail("builds more than " + std::to_string(kMaxPickleObjects) + " objects");
    }
    arena_.emplace_back();
    arena_.back().kind = kind;
    return &arena_.back();
  }
  Object* make_bool(bool v) {
    Object* o = make(Kind::kBool);
    o->boolean = v;
    return o;
  }
  Object* make_int(int64_t v) {
    Object* o = make(Kind::kInt);
    o->integer = v;
    return o;
  }
  Object* make_float(double v) {
    Object* o = make(Kind::kFloat);
    o->real = v;
    return o;
  }
  Object* make_string(Kind kind, size_t n) {
    Object* o = make(kind);
    o->text.assign(reinterpret_cast<const char*>(take(n)), n);
    return o;
  }
  // LONG1/LONG4: little-endian two's complement. Wider than 64 bits becomes a placeholder that
  // is refused only if kwargs use it.
  Object* make_long(size_t n) {
    const uint8_t* b = take(n);
    if (n > 8) {
      Object* o = make(Kind::kOpaque);
      o->type_name = "int wider than 64 bits";
      return o;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[i]) << (8 * i);
    if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
    return make_int(static_cast<int64_t>(v));
  }
  Object* make_text_int(std::string s) {
    if (s == "01" || s == "00") return make_bool(s == "01");  // protocol 0's True/False
    if (!s.empty() && s.back() == 'L') s.pop_back();
    return make_int(parse_int(s));
  }
  int64_t parse_int(const std::string& s) const {
    int64_t v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) fail("bad integer " + in_quotes(s));
    return v;
  }
  double parse_double(const std::string& s) const {
    double v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) fail("bad float " + in_quotes(s));
    return v;
  }
  // Counts text copied from objects already built against kMaxTextCopyBytes.
  void charge_copy(size_t bytes) {
    copied_bytes_ += bytes;
    if (copied_bytes_ > static_cast<uint64_t>(kMaxTextCopyBytes)) {
      fail("copies more than " + std::to_string(kMaxTextCopyBytes) +
           " bytes of names and keys (shared references repeated)");
    }
  }
  Object* make_global(const std::string& module, const std::string& name) {
    charge_copy(module.size() + name.size());
    Object* o = make(Kind::kGlobal);
    o->text = module + "." + name;
    return o;
  }
  Object* opaque(const Object* what) {
    Object* o = make(Kind::kOpaque);
    if (what->kind == Kind::kGlobal || what->kind == Kind::kOpaque) {
      charge_copy(what->text.size());
      o->text = what->text;
    } else {
      o->text = std::string("call of a ") + kind_name(what->kind);
    }
    return o;
  }

  void push(Object* o) { stack_.push_back(o); }
  // Items pushed since the last MARK (the whole stack without one): what an opcode may take. An
  // opcode that took items below a MARK would leave the MARK past the end of the stack.
  size_t above_mark() const { return stack_.size() - (marks_.empty() ? 0 : marks_.back()); }
  Object* pop() {
    if (above_mark() == 0) fail("stack underflow");
    Object* o = stack_.back();
    stack_.pop_back();
    return o;
  }
  Object* top() {
    if (stack_.empty()) fail("stack underflow");
    return stack_.back();
  }
  Object* top(Kind kind) {
    Object* o = top();
    if (o->kind != kind) {
      fail(std::string("expected a ") + kind_name(kind) + " on the stack, found a " +
           kind_name(o->kind));
    }
    return o;
  }
  std::vector<Object*> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<Object*> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  Object* memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo entry " + std::to_string(index) + " is missing");
    return it->second;
  }

  // Python dict assignment: a repeated str key replaces the earlier value in place.
  void set_items(Object* dict, const std::vector<Object*>& kv) {
    if (kv.size() % 2 != 0) fail("odd number of items for a dict");
    for (size_t i = 0; i < kv.size(); i += 2) {
      if (kv[i]->kind == Kind::kString) {
        charge_copy(kv[i]->text.size());
        auto [it, inserted] = dict->string_keys.emplace(kv[i]->text, dict->entries.size());
        if (!inserted) {
          dict->entries[it->second].second = kv[i + 1];
          continue;
        }
      }
      dict->entries.emplace_back(kv[i], kv[i + 1]);
    }
  }

  // REDUCE / NEWOBJ. Only the calls named in `calls_` are evaluated.
  Object* call(Object* callable, Object* args) {
    if (callable->kind == Kind::kOpaque) return opaque(callable);
    if (callable->kind != Kind::kGlobal) {
      fail(std::string("call of a ") + kind_name(callable->kind) + " is not supported");
    }
    if (args->kind != Kind::kTuple) fail("call arguments are not a tuple");
    const std::string& what = callable->text;
    if (std::find(calls_.begin(), calls_.end(), what) == calls_.end()) return opaque(callable);
    const std::vector<Object*>& a = args->items;
    if (what == kCallOrderedDict) {
      Object* d = make(Kind::kDict);
      d->type_name = kCallOrderedDict;  // so that BUILD may set its attributes
      if (a.empty()) return d;
      if (a.size() == 1 && (a[0]->kind == Kind::kList || a[0]->kind == Kind::kTuple)) {
        std::vector<Object*> kv;
        for (const Object* pair : a[0]->items) {
          if ((pair->kind != Kind::kList && pair->kind != Kind::kTuple) ||
              pair->items.size() != 2) {
            fail("bad arguments of collections.OrderedDict");
          }
          kv.insert(kv.end(), pair->items.begin(), pair->items.end());
        }
        set_items(d, kv);
        return d;
      }
      fail("bad arguments of collections.OrderedDict");
    }
    if (what == kCallFraction) return make_float(fraction(a));
    if (what == kCallRebuildTensorV2) return rebuild_tensor(a);
    if (what == kCallRestoreTypeTag) {
      if (a.size() != 2 || a[1]->kind != Kind::kString)
        fail("bad arguments of torch.jit._pickle.restore_type_tag");
      return a[0];
    }
    return opaque(callable);
  }

  // Fraction(numerator, denominator) as Python >= 3.11 pickles it, Fraction("39/5") as older
  // Pythons do, and Fraction(int) / Fraction(float).
  double fraction(const std::vector<Object*>& a) {
    auto number = [](const Object* o) {
      return o->kind == Kind::kInt ? static_cast<double>(o->integer) : o->real;
    };
    auto numeric = [](const Object* o) { return o->kind == Kind::kInt || o->kind == Kind::kFloat; };
    if (a.size() == 2 && a[0]->kind == Kind::kInt && a[1]->kind == Kind::kInt) {
      if (a[1]->integer == 0) fail("fractions.Fraction with denominator 0");
      return static_cast<double>(a[0]->integer) / static_cast<double>(a[1]->integer);
    }
    if (a.size() == 1 && numeric(a[0])) return number(a[0]);
    if (a.size() == 1 && a[0]->kind == Kind::kString) {
      std::string s = a[0]->text;
      s.erase(std::remove_if(s.begin(), s.end(), [](char ch) { return ch == ' ' || ch == '_'; }),
              s.end());
      if (!s.empty() && s[0] == '+') s.erase(0, 1);
      const size_t slash = s.find('/');
      if (slash == std::string::npos) return parse_double(s);
      const int64_t num = parse_int(s.substr(0, slash));
      const int64_t den = parse_int(s.substr(slash + 1));
      if (den == 0) fail("fractions.Fraction with denominator 0");
      return static_cast<double>(num) / static_cast<double>(den);
    }
    fail("unsupported arguments of fractions.Fraction");
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
  // [, metadata]): a view of the storage.
  Object* rebuild_tensor(const std::vector<Object*>& a) {
    auto ints = [](const Object* t, std::vector<int64_t>* out) {
      if (t->kind != Kind::kTuple && t->kind != Kind::kList) return false;
      for (const Object* v : t->items) {
        if (v->kind != Kind::kInt || v->integer < 0) return false;
        out->push_back(v->integer);
      }
      return true;
    };
    Object* t = make(Kind::kTensor);
    if ((a.size() != 6 && a.size() != 7) || a[0]->kind != Kind::kStorage ||
        a[1]->kind != Kind::kInt || a[1]->integer < 0 || !ints(a[2], &t->shape) ||
        !ints(a[3], &t->strides) || t->shape.size() != t->strides.size()) {
      fail("bad arguments of torch._utils._rebuild_tensor_v2");
    }
    t->items.push_back(a[0]);
    t->integer = a[1]->integer;
    return t;
  }

  // BINPERSID with torch's ('storage', StorageType, key, location, numel).
  Object* persistent(const Object* pid) {
    const auto& i = pid->items;
    if (pid->kind != Kind::kTuple || i.size() != 5 || i[0]->kind != Kind::kString ||
        i[0]->text != "storage" || i[1]->kind != Kind::kGlobal || i[2]->kind != Kind::kString ||
        i[3]->kind != Kind::kString || i[4]->kind != Kind::kInt || i[4]->integer < 0) {
      fail("unsupported persistent id (expected ('storage', type, key, location, numel))");
    }
    charge_copy(i[1]->text.size() + i[2]->text.size());
    Object* s = make(Kind::kStorage);
    s->type_name = i[1]->text;
    s->text = i[2]->text;
    s->integer = i[4]->integer;
    return s;
  }

  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  fs::path path_;
  std::deque<Object> arena_;  // owns every object; pointers into a deque stay valid
  std::vector<Object*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Object*> memo_;
  uint64_t copied_bytes_ = 0;
  const std::vector<std::string>& calls_;  // the globals whose calls are evaluated
};

Unpickler::Unpickler(const std::vector<uint8_t>& bytes, const fs::path& path,
                     std::vector<std::string> calls)
    : calls_(std::move(calls)) {
  for (const std::string& c : calls_) {
    if (c != kCallOrderedDict && c != kCallFraction && c != kCallRebuildTensorV2 &&
        c != kCallRestoreTypeTag) {
      throw std::invalid_argument("the pickle machine cannot evaluate " + c);
    }
  }
  machine_ = std::make_unique<Machine>(bytes, path, calls_);
}

Unpickler::~Unpickler() = default;

const Object* Unpickler::load() { return machine_->load(); }

const Object* dict_get(const Object* dict, const std::string& key) {
  auto it = dict->string_keys.find(key);
  return it == dict->string_keys.end() ? nullptr : dict->entries[it->second].second;
}

[[noreturn]] void refuse_unsupported(const Object* o, const std::string& where,
                                     const fs::path& path) {
  if (!o->type_name.empty()) {
    bad_checkpoint(path, "unsupported value (" + o->type_name + ") in " + where);
  }
  bad_checkpoint(path, "unsupported pickle global " + in_quotes(o->text) + " in " + where);
}

nlohmann::json to_json(const Object* o, const std::string& where, const fs::path& path,
                       JsonBudget& budget, int depth) {
  if (depth > kMaxJsonDepth) bad_checkpoint(path, where + " is nested too deeply");
  if (--budget.values < 0) {
    bad_checkpoint(path, where + " expands to more than " + std::to_string(kMaxJsonValues) +
                             " values (shared references repeated)");
  }
  if ((budget.values & 0xffff) == 0) throw_if_interrupted();
  switch (o->kind) {
    case Kind::kNone:
      return nullptr;
    case Kind::kBool:
      return o->boolean;
    case Kind::kInt:
      return o->integer;
    case Kind::kFloat:
      return o->real;
    case Kind::kString:
      return charged(o->text, where, path, budget);
    case Kind::kList:
    case Kind::kTuple: {
      nlohmann::json a = nlohmann::json::array();
      for (size_t i = 0; i < o->items.size(); ++i) {
        a.push_back(
            to_json(o->items[i], where + "[" + std::to_string(i) + "]", path, budget, depth + 1));
      }
      return a;
    }
    case Kind::kDict: {
      nlohmann::json d = nlohmann::json::object();
      for (const auto& [k, v] : o->entries) {
        if (k->kind != Kind::kString) {
          bad_checkpoint(path, where + " has a " + kind_name(k->kind) + " key");
        }
        const std::string& key = charged(k->text, where, path, budget);
        d[key] = to_json(v, where + "[" + in_quotes(key) + "]", path, budget, depth + 1);
      }
      return d;
    }
    case Kind::kGlobal:
    case Kind::kOpaque:
      refuse_unsupported(o, where, path);
    case Kind::kBytes:
    case Kind::kStorage:
    case Kind::kTensor:
      break;
  }
  bad_checkpoint(path, std::string("unsupported value (") + kind_name(o->kind) + ") in " + where);
}

}  // namespace rz::formats
