// Mutual TLS on a real multi-process cluster: `skein certs` material lets
// scheduler, workers and clients in; a client or worker without it (or
// with certificates from another CA) is refused; a non-loopback address is
// not served without TLS unless explicitly allowed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "skein/api/client.h"
#include "skein/deploy/local_cluster.h"
#include "skein/distributed/scheduler.h"
#include "skein/distributed/security.h"
#include "skein/distributed/session.h"

namespace skein {
namespace {

namespace fs = std::filesystem;
using distributed::Security;
constexpr double kWait = 60;

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string((fs::temp_directory_path() / ("skein-tls-" + std::to_string(getpid()))).string());
    distributed::CreateCertificates(*dir_ + "/good");
    distributed::CreateCertificates(*dir_ + "/other");  // a different CA
    LocalClusterOptions o;
    o.n_workers = 2;
    o.threads_per_worker = 1;
    o.token = "s3cret";
    o.security = Security::FromDirectory(*dir_ + "/good");
    cluster_ = new LocalCluster(o);
  }
  static void TearDownTestSuite() {
    delete cluster_;
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string HostPort() { return cluster_->scheduler_address().substr(6); }
  static std::string* dir_;
  static LocalCluster* cluster_;
};
std::string* SecurityTest::dir_ = nullptr;
LocalCluster* SecurityTest::cluster_ = nullptr;

TEST_F(SecurityTest, MembersWithCertificatesWorkOverTls) {
  EXPECT_EQ(cluster_->scheduler_address().rfind("tls://", 0), 0u) << cluster_->scheduler_address();
  Client client(*cluster_);
  client.upload_file(CLUSTER_OPS_LIBRARY);
  std::vector<distributed::WorkerInfo> workers = client.workers();
  ASSERT_EQ(workers.size(), 2u);
  for (const auto& w : workers) EXPECT_EQ(w.address.rfind("tls://", 0), 0u) << w.address;
  // Values move worker to worker and to the client, all over TLS.
  auto bytes = delayed("cluster.bytes");
  auto len = delayed("cluster.len");
  auto add = delayed("cluster.add");
  std::vector<Delayed> parts;
  for (int64_t i = 0; i < 8; ++i) parts.push_back(len(bytes(int64_t{1} << 20)));
  while (parts.size() > 1) {
    std::vector<Delayed> next;
    for (size_t i = 0; i + 1 < parts.size(); i += 2) next.push_back(add(parts[i], parts[i + 1]));
    parts = next;
  }
  EXPECT_EQ(client.compute(parts[0]).result(Duration(kWait)).as<int64_t>(), 8 << 20);
  Value v = client.submit("cluster.bytes", 3 << 20).result(Duration(kWait));
  EXPECT_EQ(v.get<std::vector<uint8_t>>().size(), 3u << 20);
}

TEST_F(SecurityTest, ClientWithoutCertificatesIsRefused) {
  // Plain TCP to the TLS port: the handshake fails, nothing is accepted.
  EXPECT_THROW(Client("tcp://" + HostPort(), "s3cret"), CommError);
  // The TLS address without certificates is refused before connecting.
  try {
    Client c(cluster_->scheduler_address(), "s3cret");
    FAIL() << "expected CommError";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("certificates"), std::string::npos) << e.what();
  }
}

TEST_F(SecurityTest, ClientWithAnotherClustersCertificatesIsRefused) {
  distributed::SessionOptions o;
  o.token = "s3cret";
  o.security = Security::FromDirectory(*dir_ + "/other");
  o.connect_timeout_seconds = 3;
  EXPECT_THROW(distributed::Session::Connect(cluster_->scheduler_address(), o), CommError);
}

TEST_F(SecurityTest, CertificatesWithoutTheTokenAreRefused) {
  EXPECT_THROW(Client(cluster_->scheduler_address(), "wrong", cluster_->security()), CommError);
}

TEST_F(SecurityTest, WorkerWithoutOrWithForeignCertificatesNeverJoins) {
  const std::string skein = SKEIN_EXECUTABLE;
  std::string plain = "SKEIN_TOKEN=s3cret timeout 30 " + skein + " worker tcp://" + HostPort() +
                      " --death-timeout 2 > /dev/null 2>&1";
  std::string foreign = "SKEIN_TOKEN=s3cret timeout 30 " + skein + " worker " + cluster_->scheduler_address() +
                        " --tls-dir " + *dir_ + "/other --death-timeout 2 > /dev/null 2>&1";
  for (const std::string& cmd : {plain, foreign}) {
    auto t0 = std::chrono::steady_clock::now();
    int rc = std::system(cmd.c_str());
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_NE(WEXITSTATUS(rc), 124) << "worker kept running: " << cmd;
    EXPECT_LT(took, 25) << cmd;
  }
  Client client(*cluster_);
  EXPECT_EQ(client.workers().size(), 2u);
}

TEST(SecurityRules, NonLoopbackNeedsTlsUnlessAllowed) {
  distributed::SchedulerOptions o;
  o.host = "0.0.0.0";
  try {
    distributed::Scheduler::Start(o);
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("without TLS"), std::string::npos) << e.what();
  }
  o.allow_insecure = true;
  auto s = distributed::Scheduler::Start(o);
  EXPECT_EQ(s->address().rfind("tcp://0.0.0.0:", 0), 0u) << s->address();
  s->Stop();
  EXPECT_TRUE(distributed::IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(distributed::IsLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(distributed::IsLoopbackHost("localhost"));
  EXPECT_FALSE(distributed::IsLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(distributed::IsLoopbackHost("0.0.0.0"));
}

TEST(SecurityRules, MissingOrMalformedFilesNameTheFile) {
  std::string dir = (fs::temp_directory_path() / ("skein-badtls-" + std::to_string(getpid()))).string();
  distributed::CreateCertificates(dir);
  distributed::SchedulerOptions o;
  o.security = Security::FromDirectory(dir);
  o.security.key_file = dir + "/nope.pem";
  try {
    distributed::Scheduler::Start(o);
    FAIL() << "expected IOError";
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find("nope.pem"), std::string::npos) << e.what();
  }
  { std::ofstream(dir + "/junk.pem") << "not a certificate"; }
  o.security = Security::FromDirectory(dir);
  o.security.cert_file = dir + "/junk.pem";
  try {
    distributed::Scheduler::Start(o);
    FAIL() << "expected IOError";
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find("junk.pem"), std::string::npos) << e.what();
  }
  o.security = Security::FromDirectory(dir);
  o.security.ca_file.clear();
  EXPECT_THROW(distributed::Scheduler::Start(o), Error);
  EXPECT_THROW(distributed::CreateCertificates(dir, "ca"), Error);
  EXPECT_THROW(distributed::CreateCertificates(dir, "x", 0), Error);
  // Another member certificate under the same CA works with the first one.
  distributed::CreateCertificates(dir, "client2");
  EXPECT_TRUE(fs::exists(dir + "/client2.pem"));
  EXPECT_EQ(fs::status(dir + "/client2-key.pem").permissions() & fs::perms::others_read, fs::perms::none);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace skein
