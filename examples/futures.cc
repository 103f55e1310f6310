// futures — submit, map, retries, errors and as_completed on a local Client.
#include <skein/skein.h>

#include <atomic>
#include <cstdio>
#include <stdexcept>

int main() {
  skein::Client client;

  // Futures feed other submissions; results come back in finishing order.
  auto squares = client.map([](int64_t x) { return x * x; }, std::vector<int64_t>{1, 2, 3, 4, 5});
  auto total = client.submit([](std::vector<int64_t> xs) {
    int64_t s = 0;
    for (int64_t x : xs) s += x;
    return s;
  }, squares);
  for (skein::Future f : skein::as_completed(squares)) std::printf("%s -> %s\n", f.key().ToString().c_str(), f.result().ToString().c_str());
  std::printf("sum of squares = %lld\n", static_cast<long long>(total.result().as<int64_t>()));

  // A flaky task succeeds on its third attempt.
  static std::atomic<int> attempts{0};
  auto flaky = client.submit(skein::SubmitOptions{.retries = 3}, [] {
    if (++attempts < 3) throw std::runtime_error("transient failure");
    return std::string("ok after retries");
  });
  std::string message = flaky.result().get<std::string>();
  std::printf("%s (%d attempts)\n", message.c_str(), attempts.load());

  // A task error reaches the caller with its key and original type.
  auto bad = client.submit([](int64_t x) -> int64_t { throw std::out_of_range("index " + std::to_string(x)); }, 7);
  try {
    bad.result();
  } catch (const skein::TaskError& e) {
    std::printf("caught: %s\n", e.what());
    try {
      e.RethrowOriginal();
    } catch (const std::out_of_range& original) {
      std::printf("original std::out_of_range: %s\n", original.what());
    }
  }
  return 0;
}
