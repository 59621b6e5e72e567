#include "coordinator/access.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "coordinator/credentials.h"
#include "coordinator/job_api.h"
#include "coordinator/token.h"

namespace chorus::coordinator {
namespace {

using ::testing::HasSubstr;

Principal As(Role role, std::string id = "p1") { return Principal{std::move(id), role, {}, 0, 0}; }

TEST(Permit, EachRoleMayDoItsOwnPartOnly) {
  const Principal admin = As(Role::kAdmin), submit = As(Role::kSubmit), infer = As(Role::kInfer),
                  worker = As(Role::kWorker);
  for (Action a : {Action::kSubmit, Action::kManageServing, Action::kManageTokens, Action::kWorkerHello,
                   Action::kDashboard, Action::kControlJob})
    EXPECT_TRUE(Permit(admin, a, {"someone-else", 0, 0, "kws"}).ok()) << ActionName(a);
  EXPECT_TRUE(Permit(submit, Action::kSubmit).ok());
  EXPECT_TRUE(Permit(submit, Action::kControlJob, {"p1", 0, 0, ""}).ok());
  EXPECT_FALSE(Permit(submit, Action::kControlJob, {"p2", 0, 0, ""}).ok());
  EXPECT_FALSE(Permit(submit, Action::kReadJob, {"", 0, 0, ""}).ok());  // a job nobody owns is admin's
  EXPECT_FALSE(Permit(submit, Action::kManageServing).ok());
  EXPECT_FALSE(Permit(submit, Action::kInfer, {"", 0, 0, "kws"}).ok());
  EXPECT_TRUE(Permit(infer, Action::kInfer, {"", 0, 0, "kws"}).ok());  // no list: every model
  EXPECT_FALSE(Permit(infer, Action::kSubmit).ok());
  EXPECT_FALSE(Permit(infer, Action::kWorkerHello).ok());
  EXPECT_TRUE(Permit(worker, Action::kWorkerHello).ok());
  EXPECT_FALSE(Permit(worker, Action::kInfer, {"", 0, 0, "kws"}).ok());
  for (const Principal& p : {admin, submit, infer, worker}) EXPECT_TRUE(Permit(p, Action::kPing).ok());
}

TEST(Permit, AnAllowListAndARankAreHeldToWhatTheyName) {
  Principal infer = As(Role::kInfer);
  infer.models = {"kws", "vad"};
  EXPECT_TRUE(Permit(infer, Action::kInfer, {"", 0, 0, "vad"}).ok());
  Status s = Permit(infer, Action::kInfer, {"", 0, 0, "speaker"});
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("role infer) may not infer on model 'speaker'"));
  Principal rank{"rank-7.2", Role::kRank, {}, 7, 2};
  EXPECT_TRUE(Permit(rank, Action::kReport, {"", 7, 2, ""}).ok());
  EXPECT_FALSE(Permit(rank, Action::kReport, {"", 7, 1, ""}).ok());
  EXPECT_FALSE(Permit(rank, Action::kReport, {"", 8, 2, ""}).ok());
  EXPECT_FALSE(Permit(rank, Action::kReadJob, {"rank-7.2", 0, 0, ""}).ok());
}

class CredentialsTest : public ::testing::Test {
 protected:
  Credentials Make() {
    return Credentials({"root-secret", saved_, [this](const proto::Credential& c) {
                          if (fail_saves_) return IoError("disk full");
                          saved_.push_back(c);
                          return Status::Ok();
                        },
                        [this] { return now_; }});
  }
  proto::TokenCreateRequest Request(const std::string& role, double expires = 0) {
    proto::TokenCreateRequest r;
    r.set_role(role);
    r.set_expires_in_s(expires);
    return r;
  }
  std::vector<proto::Credential> saved_;
  double now_ = 1000;
  bool fail_saves_ = false;
};

TEST_F(CredentialsTest, IssuedTokensAuthenticateUntilRevokedOrExpired) {
  Credentials c = Make();
  EXPECT_EQ(c.Authenticate("root-secret")->id, "root");
  auto made = c.Create(Request("submit", 60), "root");
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  const std::string token = made->token();
  EXPECT_EQ(made->credential().secret_sha256(), "") << "the hash is not sent to the client";
  EXPECT_EQ(c.Authenticate(token)->role, Role::kSubmit);
  EXPECT_EQ(c.Authenticate(token)->id, made->credential().id());
  // One character off in the secret, or a forged id: refused, and alike.
  std::string wrong = token;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(c.Authenticate(wrong).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(c.Authenticate("chorus_000000000000_" + token.substr(20)).status().message(),
            c.Authenticate(wrong).status().message());
  now_ += 61;
  EXPECT_EQ(c.Authenticate(token).status().code(), StatusCode::kUnauthenticated);
  auto forever = c.Create(Request("infer"), "root").value();
  EXPECT_TRUE(c.Authenticate(forever.token()).ok());
  ASSERT_TRUE(c.Revoke(forever.credential().id()).ok());
  EXPECT_FALSE(c.Authenticate(forever.token()).ok());
  EXPECT_EQ(c.Revoke("nope").code(), StatusCode::kNotFound);
  // What was saved holds the hash, never the secret, and a restart keeps it.
  ASSERT_EQ(saved_.size(), 3u);
  EXPECT_EQ(saved_[0].secret_sha256(), Sha256Hex(token.substr(20)));
  EXPECT_TRUE(saved_.back().revoked());
  Credentials again = Make();
  EXPECT_FALSE(again.Authenticate(forever.token()).ok());
  EXPECT_EQ(again.List().size(), 2u);
}

TEST_F(CredentialsTest, DerivedTokensNameOneJobAttemptOrTheWorkers) {
  Credentials c = Make();
  const std::string rank = c.RankToken(12, 3);
  auto who = c.Authenticate(rank);
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->role, Role::kRank);
  EXPECT_EQ(who->job_id, 12);
  EXPECT_EQ(who->attempt, 3);
  // Relabelled for another attempt, the MAC no longer matches.
  std::string other = rank;
  other.replace(other.find("_12_3_"), 6, "_12_4_");
  EXPECT_FALSE(c.Authenticate(other).ok());
  EXPECT_EQ(c.Authenticate(c.WorkerToken())->role, Role::kWorker);
  // Another coordinator's secret, another token.
  Credentials elsewhere({"another-secret", {}, [](const proto::Credential&) { return Status::Ok(); }, [] { return 0.0; }});
  EXPECT_FALSE(elsewhere.Authenticate(rank).ok());
  for (const std::string& junk : {std::string(), std::string("chorus"), std::string("chorus-rank_x_y_z"),
                                  std::string("chorus-rank_99999999999999999999_1_ab"), std::string(10000, 'a'),
                                  std::string("chorus__"), std::string("___")})
    EXPECT_EQ(c.Authenticate(junk).status().code(), StatusCode::kUnauthenticated) << junk.substr(0, 40);
}

TEST_F(CredentialsTest, CurveKeysAreDerivedPerRoleAndBoundToTheirTokens) {
  Credentials c = Make();
  const net::CurveKeys server = c.ServerKeys(), worker = c.WorkerKeys(), rank = c.RankKeys(7, 1);
  for (const auto& k : {server, worker, rank}) {
    EXPECT_TRUE(net::IsCurveKey(k.public_key)) << k.public_key;
    EXPECT_TRUE(net::IsCurveKey(k.secret_key));
  }
  EXPECT_NE(server.public_key, worker.public_key);
  EXPECT_NE(rank.public_key, c.RankKeys(7, 2).public_key);
  EXPECT_NE(rank.public_key, c.RankKeys(8, 1).public_key);
  // The same secret gives the same keys (a restarted coordinator); another does not.
  EXPECT_EQ(Make().RankKeys(7, 1).public_key, rank.public_key);
  Credentials other({"another-secret", {}, [](const proto::Credential&) { return Status::Ok(); }, [] { return 0.0; }});
  EXPECT_NE(other.ServerKeys().public_key, server.public_key);
  // A derived key pair is a real one: its public key is the secret's.
  EXPECT_EQ(net::CurveKeysFromSeed(std::string(32, '\x07')).value().public_key,
            net::CurveKeysFromSeed(std::string(32, '\x07')).value().public_key);

  EXPECT_EQ(c.Authenticate(c.WorkerToken())->curve_key, worker.public_key);
  EXPECT_EQ(c.Authenticate(c.RankToken(7, 1))->curve_key, rank.public_key);
  EXPECT_TRUE(c.Authenticate("root-secret")->curve_key.empty());
  const Principal w = *c.Authenticate(c.WorkerToken());
  EXPECT_TRUE(CheckPeerKey(w, "").ok());  // not over CURVE
  EXPECT_TRUE(CheckPeerKey(w, worker.public_key).ok());
  EXPECT_EQ(CheckPeerKey(w, rank.public_key).code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(CheckPeerKey(*c.Authenticate("root-secret"), rank.public_key).ok());

  EXPECT_TRUE(AllowCurvePeer(kWorkerDomain, worker.public_key, worker.public_key));
  EXPECT_FALSE(AllowCurvePeer(kWorkerDomain, rank.public_key, worker.public_key));
  EXPECT_TRUE(AllowCurvePeer(kJobDomain, rank.public_key, worker.public_key));
  EXPECT_TRUE(AllowCurvePeer(kClientDomain, server.public_key, worker.public_key));
  EXPECT_FALSE(AllowCurvePeer("elsewhere", worker.public_key, worker.public_key));
}

TEST_F(CredentialsTest, CreateChecksWhatItIsAskedAndSavesFirst) {
  Credentials c = Make();
  EXPECT_THAT(c.Create(Request("rank"), "root").status().message(), HasSubstr("unknown role 'rank'"));
  EXPECT_THAT(c.Create(Request("wizard"), "root").status().message(), HasSubstr("unknown role"));
  proto::TokenCreateRequest models = Request("submit");
  models.add_models("kws");
  EXPECT_THAT(c.Create(models, "root").status().message(), HasSubstr("only an infer credential"));
  models.set_role("infer");
  models.add_models("../etc");
  EXPECT_EQ(c.Create(models, "root").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Create(Request("infer", -1), "root").status().code(), StatusCode::kInvalidArgument);
  fail_saves_ = true;
  EXPECT_EQ(c.Create(Request("infer"), "root").status().code(), StatusCode::kIoError);
  EXPECT_TRUE(c.List().empty()) << "a credential that was not saved must not work";
}

TEST(ModelRoots, AFolderIsDeployedOnlyFromInsideARootAfterResolvingDotsAndLinks) {
  namespace fs = std::filesystem;
  const fs::path base = fs::temp_directory_path() / ("chorus_roots_" + std::to_string(::getpid()));
  fs::remove_all(base);
  fs::create_directories(base / "models/kws/1");
  fs::create_directories(base / "secret");
  fs::create_directory_symlink(base / "secret", base / "models/escape");
  const std::vector<std::string> roots = {(base / "models").string()};
  EXPECT_TRUE(CheckInsideModelRoots((base / "models/kws/1").string(), roots).ok());
  for (const fs::path& outside : {base / "models/../secret", base / "models/escape", fs::path("/etc"), base / "modelsx"}) {
    Status s = CheckInsideModelRoots(outside.string(), roots);
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << outside;
    EXPECT_THAT(s.message(), HasSubstr("serving.model_roots: " + roots[0])) << outside;
  }
  EXPECT_THAT(CheckInsideModelRoots((base / "models/kws/1").string(), {}).message(), HasSubstr("none: set"));
  fs::remove_all(base);
}

}  // namespace
}  // namespace chorus::coordinator
