// The process-wide observer list.
#include "skein/local/observer.h"

#include <algorithm>
#include <mutex>

namespace skein {
namespace {
std::mutex& Mu() {
  static std::mutex mu;
  return mu;
}
std::vector<std::shared_ptr<SchedulerObserver>>& List() {
  static auto* list = new std::vector<std::shared_ptr<SchedulerObserver>>();
  return *list;
}
}  // namespace

void AddObserver(std::shared_ptr<SchedulerObserver> observer) {
  std::lock_guard lock(Mu());
  List().push_back(std::move(observer));
}

void RemoveObserver(const std::shared_ptr<SchedulerObserver>& observer) {
  std::lock_guard lock(Mu());
  auto& l = List();
  l.erase(std::remove(l.begin(), l.end(), observer), l.end());
}

std::vector<std::shared_ptr<SchedulerObserver>> CurrentObservers() {
  std::lock_guard lock(Mu());
  return List();
}

}  // namespace skein
