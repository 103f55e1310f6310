// Tables as serialized values (skein.Table, registered in table.cc), and
// the concatenation of lent partitions (see table_serial_internal.h).
//
// Header: rows, columns, then per column its name, type, length and which
// buffers follow, and for a category whether its categories are known, then
// its dictionary the same way; frames: the buffers, in that order.
#include "dataframe/table_serial_internal.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

#include "skein/core/serialize.h"

namespace skein::dataframe::internal {
namespace {

// More rows than any table has (sizes computed from a lying count must not wrap).
constexpr int64_t kMaxRows = int64_t{1} << 56;

void EncodeColumn(const Column& c, ByteWriter& w, std::vector<Buffer>* frames) {
  w.U8(static_cast<uint8_t>(c.type()));
  w.I64(c.length());
  w.U8(c.has_nulls());
  if (c.has_nulls()) frames->push_back(c.validity());
  frames->push_back(c.values());
  if (c.type() == TypeId::kString) frames->push_back(c.offsets());
  if (c.type() == TypeId::kCategory) {
    w.U8(c.categories_known());
    EncodeColumn(*c.dictionary(), w, frames);
  }
}

ColumnLayout ReadColumnLayout(ByteReader& r, size_t frames, size_t* next, int depth) {
  auto frame = [&] {
    if (*next >= frames) throw SerializationError("skein.Table: too few frames");
    return (*next)++;
  };
  ColumnLayout c;
  c.type = TypeFromCode(r.U8(), "skein.Table");
  c.length = r.I64();
  if (c.length < 0 || c.length > kMaxRows) {
    throw SerializationError("skein.Table: a column of " + std::to_string(c.length) + " rows");
  }
  if (r.U8()) c.validity = frame();
  c.values = frame();
  if (c.type == TypeId::kString) c.offsets = frame();
  if (c.type == TypeId::kCategory) {
    if (depth > 0) throw SerializationError("skein.Table: nested dictionaries");
    c.categories_known = r.U8() != 0;
    c.dictionary = std::make_shared<const ColumnLayout>(ReadColumnLayout(r, frames, next, depth + 1));
  }
  return c;
}

// Calls `f` with each frame index of column `l` (its dictionary's too).
template <typename F>
void ForEachFrame(const ColumnLayout& l, F&& f) {
  if (l.validity) f(*l.validity);
  f(l.values);
  if (l.offsets) f(*l.offsets);
  if (l.dictionary) ForEachFrame(*l.dictionary, f);
}

// Column `l` of a lent part, its frames brought here.
Column BringColumn(const LentValue& part, const ColumnLayout& l) {
  std::vector<Buffer> frames(part.frame_sizes().size());
  ForEachFrame(l, [&](size_t i) { frames[i] = part.Frame(i); });
  return BuildColumn(l, frames);
}

Schema SchemaOf(const TableLayout& t) {
  Schema s;
  for (size_t c = 0; c < t.columns.size(); ++c) s.push_back({t.names[c], t.columns[c].type});
  return s;
}

// Results this large are concatenated on several threads, as Table::Concat does.
constexpr uint64_t kParallelBytes = uint64_t{64} << 20;
// Copies from one part are cut into pieces of at most this many bytes, so
// the threads share a few large parts evenly.
constexpr uint64_t kCopyPieceBytes = uint64_t{8} << 20;
// Category codes are copied this much at a time and checked against their
// dictionary at once, while in cache (checked after all was copied, the
// codes of a 10M-row join took 12-17 ms to read again).
constexpr uint64_t kCheckedCopyBytes = uint64_t{256} << 10;

}  // namespace

TableLayout ReadTableLayout(std::string_view header, size_t frames) {
  ByteReader r(header, "skein.Table header");
  TableLayout t;
  t.rows = r.I64();
  if (t.rows < 0 || t.rows > kMaxRows) throw SerializationError("skein.Table: implausible row count " + std::to_string(t.rows));
  const uint64_t n = r.U64();
  if (n > r.remaining()) throw SerializationError("skein.Table: implausible column count " + std::to_string(n));
  size_t next = 0;
  for (uint64_t i = 0; i < n; ++i) {
    t.names.emplace_back(r.Str());
    t.columns.push_back(ReadColumnLayout(r, frames, &next, 0));
  }
  if (next != frames) throw SerializationError("skein.Table: unused frames");
  return t;
}

Column BuildColumn(const ColumnLayout& l, std::span<const Buffer> frames) {
  std::shared_ptr<const Column> dict;
  if (l.dictionary) dict = std::make_shared<const Column>(BuildColumn(*l.dictionary, frames));
  try {
    return Column::Make(l.type, l.length, l.validity ? frames[*l.validity] : Buffer(), frames[l.values],
                        l.offsets ? frames[*l.offsets] : Buffer(), std::move(dict), l.categories_known);
  } catch (const SerializationError&) {
    throw;
  } catch (const Error& e) {
    throw SerializationError(std::string("skein.Table: ") + e.what());
  }
}

std::vector<Buffer> EncodeTable(const Table& t, std::string* header) {
  ByteWriter w(header);
  std::vector<Buffer> frames;
  w.I64(t.num_rows());
  w.U64(static_cast<uint64_t>(t.num_columns()));
  for (int i = 0; i < t.num_columns(); ++i) {
    w.Str(t.names()[static_cast<size_t>(i)]);
    EncodeColumn(t.column(i), w, &frames);
  }
  return frames;
}

Table DecodeTable(std::string_view header, std::span<const Buffer> frames) {
  const TableLayout layout = ReadTableLayout(header, frames.size());
  std::vector<std::pair<std::string, Column>> cols;
  for (size_t i = 0; i < layout.columns.size(); ++i) cols.emplace_back(layout.names[i], BuildColumn(layout.columns[i], frames));
  if (cols.empty()) return Table::Empty(layout.rows);
  try {
    Table t(std::move(cols));
    if (t.num_rows() != layout.rows) throw SerializationError("skein.Table: row count disagrees with its columns");
    return t;
  } catch (const SerializationError&) {
    throw;
  } catch (const Error& e) {
    throw SerializationError(std::string("skein.Table: ") + e.what());
  }
}

Table ConcatLent(const std::vector<LentValuePtr>& parts) {
  if (parts.empty()) return Table();
  std::vector<TableLayout> layouts;
  for (size_t p = 0; p < parts.size(); ++p) {
    if (parts[p]->type() != "skein.Table") {
      throw Error("concat: part " + std::to_string(p) + " is a " + parts[p]->type() + ", not a table");
    }
    layouts.push_back(ReadTableLayout(parts[p]->header(), parts[p]->frame_sizes().size()));
  }
  if (parts.size() == 1) return parts[0]->Materialize().get<Table>();
  const Schema schema = SchemaOf(layouts[0]);
  int64_t rows = 0;
  for (size_t p = 0; p < parts.size(); ++p) {
    const Schema sp = SchemaOf(layouts[p]);
    if (sp != schema) {
      throw Error("concat: part " + std::to_string(p) + " has schema {" + SchemaToString(sp) + "}, part 0 {" +
                  SchemaToString(schema) + "}");
    }
    for (const ColumnLayout& c : layouts[p].columns) {
      if (c.length != layouts[p].rows) {
        throw SerializationError("skein.Table: part " + std::to_string(p) + " has " + std::to_string(layouts[p].rows) +
                                 " rows and a column of " + std::to_string(c.length));
      }
    }
    if (layouts[p].rows > kMaxRows - rows) throw SerializationError("skein.Table: implausible row count in all");
    rows += layouts[p].rows;
  }
  const size_t ncols = schema.size();
  if (ncols == 0) return Table::Empty(rows);

  // Which columns are copied to their place: fixed width, no nulls, every
  // part's values frame long enough, and for categories one dictionary.
  struct Plan {
    bool placed = false;
    Buffer out;
    std::byte* w = nullptr;
    std::shared_ptr<const Column> dictionary;
    bool known = true;
  };
  std::vector<Plan> plan(ncols);
  for (size_t c = 0; c < ncols; ++c) {
    const TypeId type = schema[c].type;
    const uint64_t width = FixedWidth(type);
    bool placed = width > 0;
    for (size_t p = 0; placed && p < parts.size(); ++p) {
      const ColumnLayout& l = layouts[p].columns[c];
      placed = !l.validity && parts[p]->frame_sizes()[l.values] >= static_cast<uint64_t>(l.length) * width;
    }
    if (placed && type == TypeId::kCategory) {
      for (size_t p = 0; placed && p < parts.size(); ++p) {
        const ColumnLayout& l = layouts[p].columns[c];
        auto dict = std::make_shared<const Column>(BringColumn(*parts[p], *l.dictionary));
        if (p == 0) {
          plan[c].dictionary = dict;
        } else {
          placed = Column::SameLabels(*dict, *plan[c].dictionary);
        }
        plan[c].known = plan[c].known && l.categories_known;
      }
    }
    plan[c].placed = placed;
    if (placed) plan[c].out = Buffer::AllocateUninitialized(static_cast<size_t>(rows) * width, &plan[c].w);
  }

  // The work: a column concatenated here (each part's brought first), or a
  // piece of a part's column copied to its place.
  struct Job {
    size_t column;
    size_t part = 0;
    uint64_t offset = 0, size = 0;
    std::byte* to = nullptr;
  };
  std::vector<Job> jobs;
  for (size_t c = 0; c < ncols; ++c) {
    if (!plan[c].placed) jobs.push_back({c});  // first: the longest jobs start early
  }
  for (size_t c = 0; c < ncols; ++c) {
    if (!plan[c].placed) continue;
    const uint64_t width = FixedWidth(schema[c].type);
    std::byte* at = plan[c].w;
    for (size_t p = 0; p < parts.size(); ++p) {
      const uint64_t n = static_cast<uint64_t>(layouts[p].rows) * width;
      for (uint64_t off = 0; off < n; off += kCopyPieceBytes) {
        jobs.push_back({c, p, off, std::min(kCopyPieceBytes, n - off), at + off});
      }
      at += n;
    }
  }
  uint64_t bytes = 0;  // what all parts hold: placed or brought, it is read once
  for (size_t p = 0; p < parts.size(); ++p) bytes += parts[p]->frame_bytes();

  std::vector<std::optional<Column>> done(ncols);
  std::vector<std::exception_ptr> failed(jobs.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t j; (j = next.fetch_add(1)) < jobs.size();) {
      const Job& job = jobs[j];
      try {
        if (plan[job.column].placed) {
          const std::shared_ptr<const Column>& dict = plan[job.column].dictionary;
          // Category codes are checked as they arrive, a cache-sized run at a time.
          const uint64_t step = dict ? kCheckedCopyBytes : job.size;
          for (uint64_t at = 0; at < job.size; at += step) {
            const uint64_t n = std::min(step, job.size - at);
            const LentValue::Copy copy{layouts[job.part].columns[job.column].values, job.offset + at, n, job.to + at};
            parts[job.part]->CopyOut({&copy, 1});
            if (dict && !Column::CodesWithin(reinterpret_cast<const int32_t*>(job.to + at), static_cast<int64_t>(n / 4),
                                             dict->length())) {
              throw SerializationError("skein.Table: column '" + schema[job.column].name + "' of part " +
                                       std::to_string(job.part) + " has category codes outside its dictionary of " +
                                       std::to_string(dict->length()));
            }
          }
          continue;
        }
        std::vector<Column> brought;
        std::vector<const Column*> pieces;
        brought.reserve(parts.size());
        for (size_t p = 0; p < parts.size(); ++p) {
          brought.push_back(BringColumn(*parts[p], layouts[p].columns[job.column]));
          pieces.push_back(&brought.back());
        }
        done[job.column] = Column::Concat(pieces);
      } catch (...) {
        failed[j] = std::current_exception();
      }
    }
  };
  const size_t threads =
      bytes >= kParallelBytes ? std::min<size_t>({jobs.size(), std::max(1u, std::thread::hardware_concurrency()), 8})
                              : 1;
  std::vector<std::thread> helpers;
  for (size_t h = 1; h < threads; ++h) helpers.emplace_back(work);
  work();
  for (std::thread& h : helpers) h.join();
  for (const std::exception_ptr& e : failed) {
    if (e) std::rethrow_exception(e);
  }

  std::vector<std::pair<std::string, Column>> cols;
  for (size_t c = 0; c < ncols; ++c) {
    if (plan[c].placed) {
      done[c] = plan[c].dictionary
                    ? Column::FromCheckedCodes(rows, std::move(plan[c].out), plan[c].dictionary, plan[c].known)
                    : Column::Make(schema[c].type, rows, Buffer(), std::move(plan[c].out));
    }
    cols.emplace_back(schema[c].name, std::move(*done[c]));
  }
  return Table(std::move(cols));
}

}  // namespace skein::dataframe::internal

