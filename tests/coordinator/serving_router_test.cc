// ServingRouter on a fake clock: admission, dispatch policy, deadlines,
// liveness, retries and exactly-once answers, and streaming sessions (order,
// state carried, a lost worker, bounds, expiry), with no socket and no sleep.
#include "coordinator/serving/serving_router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace chorus::coordinator {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() : router_(Options()) {}

  static RouterOptions Options() {
    RouterOptions o;
    o.max_queue = 3;
    o.default_timeout = 1000ms;
    o.worker_liveness = 2000ms;
    o.max_attempts = 2;
    o.max_sessions = 2;
    o.session_idle = 5000ms;
    o.max_session_backlog = 2;
    return o;
  }

  uint64_t Submit(const std::string& model = "kws", int64_t version = 0, int64_t timeout_ms = 0) {
    auto seq = router_.Submit(model, version, timeout_ms, false, now_);
    EXPECT_TRUE(seq.ok()) << seq.status().ToString();
    return seq.ok() ? *seq : 0;
  }

  // A chunk of streaming session `key`.
  Result<uint64_t> Chunk(const std::string& key, bool start = false, bool end = false, int64_t timeout_ms = 60000) {
    const SessionRef session{key, start, end};
    return router_.Submit("vad", 0, timeout_ms, false, now_, &session);
  }

  static proto::InferReply WithState(const std::string& state, const std::string& code = "OK") {
    proto::InferReply r;
    r.set_code(code);
    r.set_stream_state(state);
    return r;
  }

  void Hello(const std::string& id, int capacity = 1, int64_t version = 1, const std::string& model = "kws") {
    router_.Hello(id, {{model, version}}, capacity, 100, now_);
  }

  // Runs Tick and Dispatch, as the broker's loop does, and takes the outbox.
  ServingRouter::Outbox Step() {
    router_.Tick(now_);
    router_.Dispatch();
    return router_.TakeOutbox();
  }

  static proto::InferReply Ok(const std::string& label = "yes") {
    proto::InferReply r;
    r.set_code("OK");
    r.set_model(label);
    return r;
  }

  ServingRouter router_;
  ServingRouter::Time now_{};  // the fake clock
};

TEST_F(RouterTest, RefusesUnknownModelsAndEmptyNamesButQueuesForExpectedOnes) {
  EXPECT_EQ(router_.Submit("kws", 0, 0, false, now_).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(router_.Submit("", 0, 0, true, now_).status().code(), StatusCode::kInvalidArgument);
  // Deployed but not served yet (scale from zero): it waits for a worker.
  auto seq = router_.Submit("kws", 0, 0, true, now_);
  ASSERT_TRUE(seq.ok());
  EXPECT_TRUE(Step().sends.empty());
  Hello("w1");
  auto out = Step();
  ASSERT_EQ(out.sends.size(), 1u);
  EXPECT_EQ(out.sends[0].seq, *seq);
  EXPECT_EQ(out.sends[0].worker, "w1");
  // A pinned version must be served now, expected or not.
  auto pinned = router_.Submit("kws", 7, 0, true, now_);
  EXPECT_EQ(pinned.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(pinned.status().message(), HasSubstr("version 7"));
}

TEST_F(RouterTest, AFullQueueRefusesAtOnce) {
  Hello("w1");
  router_.Drain("w1");  // served, but nobody takes work: the queue fills
  for (int i = 0; i < 3; ++i) Submit();
  auto refused = router_.Submit("kws", 0, 0, false, now_);
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(), HasSubstr("full (3 waiting)"));
  EXPECT_EQ(router_.Queued().at("kws"), 3);
}

TEST_F(RouterTest, DispatchesOldestFirstToTheLeastBusyWorkerWithRoom) {
  Hello("a", 2);
  Hello("b", 1);
  const uint64_t r1 = Submit(), r2 = Submit(), r3 = Submit();
  auto out = Step();
  ASSERT_EQ(out.sends.size(), 3u);
  EXPECT_EQ(out.sends[0].seq, r1);
  EXPECT_EQ(out.sends[1].seq, r2);
  EXPECT_EQ(out.sends[2].seq, r3);
  // a and b both idle: the first goes to a (ties: first in order), the
  // second to b (a has 1), the third to a (b is full).
  EXPECT_EQ(out.sends[0].worker, "a");
  EXPECT_EQ(out.sends[1].worker, "b");
  EXPECT_EQ(out.sends[2].worker, "a");
  EXPECT_EQ(router_.workers().at("a").ongoing, 2);
  EXPECT_EQ(router_.workers().at("b").ongoing, 1);
  // Every worker full: the next waits until one replies.
  const uint64_t r4 = Submit();
  EXPECT_TRUE(Step().sends.empty());
  router_.Reply("b", r2, Ok());
  out = Step();
  ASSERT_EQ(out.answers.size(), 1u);
  EXPECT_EQ(out.answers[0].seq, r2);
  EXPECT_EQ(out.answers[0].attempts, 1);
  ASSERT_EQ(out.sends.size(), 1u);
  EXPECT_EQ(out.sends[0].seq, r4);
  EXPECT_EQ(out.sends[0].worker, "b");
}

TEST_F(RouterTest, TiesGoRoundRobinSoRequestsOneAtATimeReachEveryWorker) {
  Hello("a", 2);
  Hello("b", 2);
  Hello("c", 2);
  std::vector<std::string> chosen;
  for (int i = 0; i < 4; ++i) {
    const uint64_t seq = Submit();
    auto out = Step();
    ASSERT_EQ(out.sends.size(), 1u);
    chosen.push_back(out.sends[0].worker);
    router_.Reply(out.sends[0].worker, seq, Ok());
    ASSERT_EQ(Step().answers.size(), 1u);
  }
  EXPECT_EQ(chosen, (std::vector<std::string>{"a", "b", "c", "a"}));
  // Load still comes first: a busier worker (not full) is passed over whatever the turn.
  Submit();
  ASSERT_EQ(Step().sends[0].worker, "b");  // b stays busy
  const uint64_t on_c = Submit();
  ASSERT_EQ(Step().sends[0].worker, "c");
  router_.Reply("c", on_c, Ok());
  Submit();
  EXPECT_EQ(Step().sends[0].worker, "a");
  Submit();
  EXPECT_EQ(Step().sends[0].worker, "c") << "b's turn, but b has one ongoing and c none";
}

TEST_F(RouterTest, DrainingWorkersGetNoNewRequests) {
  Hello("old");
  Hello("new");
  router_.Drain("old");
  EXPECT_FALSE(router_.Drain("stranger"));
  Submit();
  auto out = Step();
  ASSERT_EQ(out.sends.size(), 1u);
  EXPECT_EQ(out.sends[0].worker, "new");
}

TEST_F(RouterTest, AWorkerUnloadingAModelGetsNoNewRequestsForItButStillForItsOthers) {
  router_.Hello("both", {{"kws", 1}, {"vad", 1}}, 4, 100, now_);
  Hello("other", 4);
  EXPECT_TRUE(router_.Unserve("both", "kws"));
  EXPECT_FALSE(router_.Unserve("both", "kws"));  // no longer
  EXPECT_FALSE(router_.Unserve("stranger", "kws"));
  Submit();
  Submit();
  const uint64_t vad = Submit("vad");
  auto out = Step();
  ASSERT_EQ(out.sends.size(), 3u);
  for (const auto& send : out.sends) EXPECT_EQ(send.worker, send.seq == vad ? "both" : "other") << send.seq;
  // Its last worker unloading it, a model is no longer served at all.
  EXPECT_TRUE(router_.Unserve("both", "vad"));
  EXPECT_EQ(router_.Submit("vad", 0, 0, false, now_).status().code(), StatusCode::kNotFound);
}

TEST_F(RouterTest, APinnedRequestWaitsWithoutHoldingUpTheUnpinned) {
  Hello("v1", 1, 1);
  Hello("v2", 1, 2);
  const uint64_t busy = Submit("kws", 2);
  ASSERT_EQ(Step().sends.size(), 1u);  // v2 is now full
  const uint64_t pinned = Submit("kws", 2);
  const uint64_t any = Submit();
  auto out = Step();
  ASSERT_EQ(out.sends.size(), 1u);
  EXPECT_EQ(out.sends[0].seq, any);
  EXPECT_EQ(out.sends[0].worker, "v1");
  router_.Reply("v2", busy, Ok());
  out = Step();
  ASSERT_EQ(out.sends.size(), 1u);
  EXPECT_EQ(out.sends[0].seq, pinned);
  EXPECT_EQ(out.sends[0].worker, "v2");
}

TEST_F(RouterTest, DeadlinesAnswerQueuedAndDispatchedRequestsOnce) {
  Hello("w1");
  const uint64_t at_worker = Submit("kws", 0, 500);
  ASSERT_EQ(Step().sends.size(), 1u);
  const uint64_t queued = Submit("kws", 0, 300);
  now_ += 299ms;
  EXPECT_TRUE(Step().answers.empty());
  now_ += 1ms;
  auto out = Step();
  ASSERT_EQ(out.answers.size(), 1u);
  EXPECT_EQ(out.answers[0].seq, queued);
  EXPECT_EQ(out.answers[0].reply.code(), "DEADLINE_EXCEEDED");
  EXPECT_THAT(out.answers[0].reply.error(), HasSubstr("300 ms (waited for a free worker)"));
  EXPECT_EQ(out.answers[0].attempts, 0);
  now_ += 200ms;
  out = Step();
  ASSERT_EQ(out.answers.size(), 1u);
  EXPECT_EQ(out.answers[0].seq, at_worker);
  EXPECT_THAT(out.answers[0].reply.error(), HasSubstr("from worker w1"));
  // Answered, but the worker still holds it: it counts until the worker
  // replies, and that late reply is not a second answer.
  EXPECT_EQ(router_.workers().at("w1").ongoing, 1);
  EXPECT_TRUE(Step().answers.empty());
  router_.Reply("w1", at_worker, Ok());
  out = Step();
  EXPECT_TRUE(out.answers.empty());
  EXPECT_EQ(router_.workers().at("w1").ongoing, 0);
  EXPECT_TRUE(router_.Ongoing().empty());
}

TEST_F(RouterTest, ASilentWorkerIsDroppedAndItsRequestsRetriedElsewhere) {
  Hello("a");
  const uint64_t seq = Submit("kws", 0, 10000);
  auto out = Step();
  ASSERT_EQ(out.sends.size(), 1u);
  ASSERT_EQ(out.sends[0].worker, "a");
  Hello("b");
  now_ += 1500ms;
  EXPECT_TRUE(router_.Heard("b", now_));
  EXPECT_FALSE(router_.Heard("nobody", now_));
  now_ += 501ms;  // a: 2001 ms silent; b: 501 ms
  out = Step();
  ASSERT_EQ(out.dropped.size(), 1u);
  EXPECT_EQ(out.dropped[0].worker, "a");
  EXPECT_EQ(out.dropped[0].silent, 2001ms);
  EXPECT_EQ(router_.workers().count("a"), 0u);
  ASSERT_EQ(out.sends.size(), 1u);
  EXPECT_EQ(out.sends[0].seq, seq);
  EXPECT_EQ(out.sends[0].worker, "b");
  // A reply from the lost worker's attempt arrives after all: dropped.
  router_.Reply("a", seq, Ok("stale"));
  EXPECT_TRUE(Step().answers.empty());
  router_.Reply("b", seq, Ok("fresh"));
  out = Step();
  ASSERT_EQ(out.answers.size(), 1u);
  EXPECT_EQ(out.answers[0].reply.model(), "fresh");
  EXPECT_EQ(out.answers[0].attempts, 2);
}

TEST_F(RouterTest, GivesUpAfterMaxAttempts) {
  Hello("a");
  const uint64_t seq = Submit("kws", 0, 60000);
  ASSERT_EQ(Step().sends.size(), 1u);
  router_.Remove("a", "left");
  Hello("b");
  auto out = Step();
  ASSERT_EQ(out.sends.size(), 1u);
  EXPECT_EQ(out.sends[0].worker, "b");
  router_.Remove("b", "crashed");
  out = router_.TakeOutbox();
  ASSERT_EQ(out.answers.size(), 1u);
  EXPECT_EQ(out.answers[0].seq, seq);
  EXPECT_EQ(out.answers[0].reply.code(), "UNAVAILABLE");
  EXPECT_THAT(out.answers[0].reply.error(), HasSubstr("worker b crashed while answering; gave up after 2 attempts"));
  EXPECT_TRUE(router_.Ongoing().empty());
}

TEST_F(RouterTest, RetriedRequestsGoBackToTheFrontOfTheirQueueInOrder) {
  Hello("a", 2);
  const uint64_t first = Submit("kws", 0, 60000), second = Submit("kws", 0, 60000);
  ASSERT_EQ(Step().sends.size(), 2u);
  const uint64_t third = Submit("kws", 0, 60000);  // waits: a is full
  router_.Remove("a", "left");
  Hello("b", 3);
  auto out = Step();
  ASSERT_EQ(out.sends.size(), 3u);
  EXPECT_EQ(out.sends[0].seq, first);
  EXPECT_EQ(out.sends[1].seq, second);
  EXPECT_EQ(out.sends[2].seq, third);
}

TEST_F(RouterTest, AHelloReplacesWhatAWorkerServes) {
  Hello("w", 1, 1, "kws");
  EXPECT_TRUE(router_.Submit("vad", 0, 0, false, now_).status().code() == StatusCode::kNotFound);
  router_.Hello("w", {{"vad", 3}}, 0, 100, now_);
  EXPECT_EQ(router_.workers().at("w").capacity, 1);  // at least one
  EXPECT_TRUE(router_.Submit("vad", 3, 0, false, now_).ok());
  EXPECT_EQ(router_.Submit("kws", 0, 0, false, now_).status().code(), StatusCode::kNotFound);
}

TEST_F(RouterTest, ASessionsChunksGoOneAtATimeInOrderEachWithTheStateTheOneBeforeLeft) {
  Hello("a", 4, 1, "vad");
  Hello("b", 4, 1, "vad");
  auto c1 = Chunk("s", true), c2 = Chunk("s"), c3 = Chunk("s", false, true);
  ASSERT_TRUE(c1.ok() && c2.ok() && c3.ok());
  auto out = Step();
  ASSERT_EQ(out.sends.size(), 1u);  // the others wait for it, though both workers have room
  EXPECT_EQ(out.sends[0].seq, *c1);
  EXPECT_TRUE(out.sends[0].chunk);
  EXPECT_EQ(out.sends[0].stream_state, "");  // the session's start
  EXPECT_EQ(router_.Sessions().at("vad").open, 1);
  router_.Reply(out.sends[0].worker, *c1, WithState("after 1"));
  out = Step();
  ASSERT_EQ(out.answers.size(), 1u);
  EXPECT_EQ(out.answers[0].reply.stream_state(), "");  // the state is the router's, not the client's
  ASSERT_EQ(out.sends.size(), 1u);
  EXPECT_EQ(out.sends[0].seq, *c2);
  EXPECT_EQ(out.sends[0].stream_state, "after 1");
  router_.Reply(out.sends[0].worker, *c2, WithState("after 2"));
  out = Step();
  ASSERT_EQ(out.sends.size(), 1u);
  EXPECT_EQ(out.sends[0].seq, *c3);
  EXPECT_EQ(out.sends[0].stream_state, "after 2");
  router_.Reply(out.sends[0].worker, *c3, WithState("after 3"));
  out = Step();
  ASSERT_EQ(out.answers.size(), 1u);
  // The end chunk's answer closed it: a chunk after it finds no session.
  EXPECT_EQ(router_.Sessions().at("vad").open, 0);
  EXPECT_EQ(router_.Sessions().at("vad").closed, 1);
  EXPECT_EQ(Chunk("s").status().code(), StatusCode::kNotFound);
}

TEST_F(RouterTest, AChunkWhoseWorkerIsLostGoesToAnotherWithTheStateItFirstHad) {
  Hello("a", 4, 1, "vad");
  auto c1 = Chunk("s", true);
  auto out = Step();
  router_.Reply("a", *c1, WithState("after 1"));
  auto c2 = Chunk("s");
  out = Step();
  ASSERT_EQ(out.sends.size(), 1u);
  EXPECT_EQ(out.sends[0].worker, "a");
  Hello("b", 4, 1, "vad");
  router_.Remove("a", "was killed");
  out = Step();
  ASSERT_EQ(out.sends.size(), 1u);
  EXPECT_EQ(out.sends[0].seq, *c2);
  EXPECT_EQ(out.sends[0].worker, "b");
  EXPECT_EQ(out.sends[0].stream_state, "after 1");
  router_.Reply("a", *c2, WithState("stale"));  // the lost worker's late answer: dropped
  router_.Reply("b", *c2, WithState("after 2"));
  out = Step();
  ASSERT_EQ(out.answers.size(), 1u);
  EXPECT_EQ(out.answers[0].attempts, 2);
  auto c3 = Chunk("s");
  out = Step();
  ASSERT_EQ(out.sends.size(), 1u);
  EXPECT_EQ(out.sends[0].stream_state, "after 2");
}

TEST_F(RouterTest, AFailedChunkLeavesTheStateAsItWasAndTheSessionGoesOn) {
  Hello("a", 4, 1, "vad");
  auto c1 = Chunk("s", true);
  Step();
  router_.Reply("a", *c1, WithState("after 1"));
  auto c2 = Chunk("s");
  Step();
  router_.Reply("a", *c2, WithState("half-made", "INVALID_ARGUMENT"));
  auto c3 = Chunk("s");
  auto out = Step();
  ASSERT_EQ(out.sends.size(), 1u);
  EXPECT_EQ(out.sends[0].seq, *c3);
  EXPECT_EQ(out.sends[0].stream_state, "after 1");
}

TEST_F(RouterTest, SessionsAreRefusedBeyondTheBoundAndChecked) {
  Hello("a", 4, 1, "vad");
  EXPECT_EQ(Chunk("never-started").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(Chunk("one", true).ok());
  ASSERT_TRUE(Chunk("two", true).ok());
  auto third = Chunk("three", true);
  EXPECT_EQ(third.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), HasSubstr("2 streaming sessions are open"));
  // "one" has a chunk in flight: starting it again is refused, and its backlog is bounded.
  EXPECT_EQ(Chunk("one", true).status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Chunk("one").ok());
  ASSERT_TRUE(Chunk("one", false, true).ok());
  EXPECT_EQ(Chunk("one").status().code(), StatusCode::kFailedPrecondition);  // after its end
  EXPECT_EQ(router_.Sessions().at("vad").open, 2);
  // Answering all of "one" closes it: room for another.
  for (int i = 0; i < 3; ++i) {
    auto out = Step();
    for (const auto& send : out.sends) router_.Reply(send.worker, send.seq, WithState("x"));
  }
  Step();
  EXPECT_EQ(router_.Sessions().at("vad").open, 1);
  EXPECT_TRUE(Chunk("three", true).ok());
}

TEST_F(RouterTest, AnIdleSessionExpiresButOneWithAChunkInFlightDoesNot) {
  Hello("a", 4, 1, "vad");
  auto idle = Chunk("idle", true);
  auto busy = Chunk("busy", true);
  auto out = Step();
  ASSERT_EQ(out.sends.size(), 2u);
  router_.Reply("a", *idle, WithState("i"));
  for (int i = 0; i < 5; ++i) {  // the worker stays alive, holding "busy"'s chunk
    now_ += 999ms;
    router_.Heard("a", now_);
  }
  Step();
  EXPECT_EQ(router_.Sessions().at("vad").open, 2);
  now_ += 6ms;
  router_.Heard("a", now_);
  out = Step();
  ASSERT_EQ(out.expired.size(), 1u);
  EXPECT_EQ(router_.Sessions().at("vad").open, 1);  // "busy" waits for its worker
  EXPECT_EQ(router_.Sessions().at("vad").expired, 1);
  auto late = Chunk("idle");
  EXPECT_EQ(late.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(late.status().message(), HasSubstr("expired after 5 s"));
}

TEST_F(RouterTest, AChunkWaitingBehindItsSessionFailsAtItsDeadline) {
  Hello("a", 4, 1, "vad");
  auto c1 = Chunk("s", true, false, 60000);
  auto c2 = Chunk("s", false, false, 100);
  auto out = Step();
  ASSERT_EQ(out.sends.size(), 1u);
  now_ += 101ms;
  out = Step();
  ASSERT_EQ(out.answers.size(), 1u);
  EXPECT_EQ(out.answers[0].seq, *c2);
  EXPECT_EQ(out.answers[0].reply.code(), "DEADLINE_EXCEEDED");
  router_.Reply("a", *c1, WithState("after 1"));
  out = Step();
  ASSERT_EQ(out.answers.size(), 1u);
  EXPECT_EQ(out.answers[0].seq, *c1);
  auto c3 = Chunk("s");
  out = Step();
  ASSERT_EQ(out.sends.size(), 1u);
  EXPECT_EQ(out.sends[0].stream_state, "after 1");
}

}  // namespace
}  // namespace chorus::coordinator
