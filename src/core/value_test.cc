// Values and their serialization.
#include "skein/core/value.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "skein/core/compression.h"
#include "skein/core/lent_value.h"
#include "skein/core/serialize.h"

namespace skein {
namespace {

using ::testing::HasSubstr;

struct Point {
  double x, y;
  bool operator==(const Point&) const = default;
};
SKEIN_REGISTER_SERIALIZER(Point, "test.Point",
    [](const Point& p, std::string* header) {
      ByteWriter w(header);
      w.F64(p.x);
      w.F64(p.y);
      return std::vector<Buffer>{};
    },
    [](std::string_view header, std::span<const Buffer>) {
      ByteReader r(header, "test.Point");
      double x = r.F64();
      return Point{x, r.F64()};
    });

struct Opaque {
  int v;
};

Value RoundTrip(const Value& v) { return Deserialize(Unpack(Pack(Serialize(v)), "test bytes")); }

TEST(Value, ScalarsLiveInlineAndConvert) {
  Value i = 7, d = 2.5, b = true, n;
  EXPECT_TRUE(i.is_int());
  EXPECT_EQ(i.as<int64_t>(), 7);
  EXPECT_DOUBLE_EQ(i.as<double>(), 7.0);  // int -> float, as NumPy promotes
  EXPECT_EQ(d.as<double>(), 2.5);
  EXPECT_TRUE(b.as<bool>());
  EXPECT_TRUE(n.is_none());
  EXPECT_EQ(Value(1), Value(1.0));
  EXPECT_EQ(Value(0.1).ToString(), "0.1");
  EXPECT_EQ(Value(ValueList{1, "a", ValueMap{{"k", 2.0}}}).ToString(), "[1, 'a', {'k': 2.0}]");
}

TEST(Value, WrongTypeNamesBothTypes) {
  Value s = std::string("abc");
  try {
    s.as<int64_t>();
    FAIL() << "expected TypeError";
  } catch (const TypeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("expected a value of type int64, got string"));
  }
  EXPECT_THROW(Value(2.5).as<int64_t>(), TypeError);  // no silent truncation
  EXPECT_THROW(Value(int64_t{1} << 40).as<int32_t>(), TypeError);
}

TEST(Value, ObjectsAreSharedNotCopied) {
  Value a = Value::From(std::vector<double>(1000, 1.5));
  Value b = a;
  EXPECT_EQ(&a.get<std::vector<double>>(), &b.get<std::vector<double>>());
  EXPECT_GE(a.nbytes(), 8000u);
  EXPECT_EQ(a.type_name(), "vector<float64>");
  EXPECT_EQ((Value::From(Opaque{3}).get<Opaque>().v), 3);
}

TEST(Value, ListsConvertToTypedVectors) {
  Value l = ValueList{1, 2, 3};
  EXPECT_EQ(l.as<std::vector<int64_t>>(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_THROW(Value(ValueList{1, "x"}).as<std::vector<int64_t>>(), TypeError);
}

TEST(Serialize, BuiltinsRoundTrip) {
  ValueMap m{{"a", 1}, {"b", ValueList{2.5, true, Value(), std::string("s")}}};
  for (const Value& v : {Value(), Value(true), Value(-3), Value(1e300), Value("text"), Value(m),
                         Value::From(std::vector<int64_t>{1, 2}), Value(Buffer::Copy("xyz", 3))}) {
    EXPECT_EQ(RoundTrip(v), v) << v.ToString();
  }
}

TEST(Serialize, UserTypesRoundTripAndUnknownOnesAreNamed) {
  EXPECT_EQ(RoundTrip(Value::From(Point{1, 2})).get<Point>(), (Point{1, 2}));
  EXPECT_EQ(Value::From(Point{1, 2}).type_name(), "test.Point");
  try {
    Serialize(Value::From(Opaque{1}));
    FAIL();
  } catch (const SerializationError& e) {
    EXPECT_THAT(e.what(), HasSubstr("Opaque"));
    EXPECT_THAT(e.what(), HasSubstr("SKEIN_REGISTER_SERIALIZER"));
  }
  EXPECT_FALSE(IsSerializable(Value(ValueList{1, Value::From(Opaque{1})})));
  EXPECT_TRUE(IsSerializable(Value(ValueList{1, Value::From(Point{0, 0})})));
}

TEST(Serialize, LargeBuffersTravelAsFramesWithoutCopies) {
  std::byte* bytes;
  Buffer big = Buffer::Allocate(1 << 20, &bytes);
  Serialized s = Serialize(Value(big));
  ASSERT_EQ(s.frames.size(), 1u);
  EXPECT_EQ(s.frames[0].data(), big.data());
}

TEST(LentValue, AValueOfThisProcessLendsItsFramesAndCopiesRangesOut) {
  std::vector<double> xs(1000);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<double>(i) / 2;
  const Value v = Value::From(xs);
  LentValuePtr lent = LendHere(v);
  EXPECT_EQ(lent->type(), Serialize(v).type);
  ASSERT_EQ(lent->frame_sizes(), std::vector<uint64_t>{8000});
  EXPECT_EQ(lent->frame_bytes(), 8000u);
  // The frame is the value's own memory.
  EXPECT_EQ(lent->Frame(0).data(), reinterpret_cast<const std::byte*>(v.get<std::vector<double>>().data()));
  double got[3] = {};
  const LentValue::Copy c{0, 8 * 10, 24, reinterpret_cast<std::byte*>(got)};
  lent->CopyOut({&c, 1});
  EXPECT_EQ(got[0], 5.0);
  EXPECT_EQ(got[2], 6.0);
  EXPECT_EQ(lent->Materialize().get<std::vector<double>>(), xs);
  // Ranges outside a frame, or frames that are not there, copy nothing.
  got[0] = -1;
  const LentValue::Copy past{0, 7992, 16, reinterpret_cast<std::byte*>(got)};
  const LentValue::Copy nowhere{1, 0, 8, reinterpret_cast<std::byte*>(got)};
  const LentValue::Copy both[] = {c, past};
  EXPECT_THROW(lent->CopyOut(both), Error);
  EXPECT_THROW(lent->CopyOut({&nowhere, 1}), Error);
  EXPECT_THROW(lent->Frame(1), Error);
  EXPECT_EQ(got[0], -1.0);
}

TEST(Serialize, CorruptBytesGiveClearErrors) {
  std::string packed = Pack(Serialize(Value(ValueList{1, 2, "three"})));
  for (size_t cut : {size_t{0}, size_t{3}, size_t{10}, packed.size() - 1}) {
    EXPECT_THROW(Unpack(std::string_view(packed).substr(0, cut), "x"), SerializationError) << cut;
  }
  std::string bad = packed;
  bad[0] = 'X';
  EXPECT_THROW(Unpack(bad, "x"), SerializationError);
  Serialized unknown{"no.such.type", "", {}};
  EXPECT_THROW(Deserialize(unknown), SerializationError);
  // A list header that claims more children than there are bytes.
  Serialized lying{"list", std::string(8, '\xff'), {}};
  EXPECT_THROW(Deserialize(lying), SerializationError);
}

TEST(Compression, RoundTripsAndRejectsCorruption) {
  std::string raw(100000, 'a');
  for (Codec c : {Codec::kNone, Codec::kLz4, Codec::kZstd}) {
    std::string z = Compress(c, raw);
    EXPECT_EQ(Decompress(z, "block"), raw);
    std::string broken = z.substr(0, z.size() / 2);
    EXPECT_THROW(Decompress(broken, "block"), SerializationError) << CodecName(c);
  }
  EXPECT_LT(Compress(Codec::kZstd, raw).size(), raw.size() / 10);
  // A tiny block that claims a huge size is rejected before allocating it.
  std::string liar = Compress(Codec::kLz4, "abc");
  uint64_t huge = uint64_t{1} << 40;
  std::memcpy(liar.data() + 1, &huge, 8);
  EXPECT_THROW(Decompress(liar, "block"), SerializationError);
  EXPECT_THROW(ParseCodec("snappy2"), ConfigError);
}

}  // namespace
}  // namespace skein
