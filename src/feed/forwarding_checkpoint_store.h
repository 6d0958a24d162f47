// A CheckpointStore that passes every call on to another: a store that changes a few calls (the
// projection runner's retry tracking, PostgreSQL projection checkpoints) derives from it and
// overrides only those.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "evs/subscription.h"

namespace evs::feed {

class ForwardingCheckpointStore : public CheckpointStore {
 public:
  explicit ForwardingCheckpointStore(std::shared_ptr<CheckpointStore> next)
      : next_(std::move(next)) {}

  Result<std::optional<std::string>> Load(const std::string& subscription) override {
    return next_->Load(subscription);
  }
  Status Save(const std::string& subscription, const std::string& checkpoint) override {
    return next_->Save(subscription, checkpoint);
  }
  Status Park(const ParkedEvent& parked) override { return next_->Park(parked); }
  Result<std::vector<ParkedEvent>> ListParked(const std::string& subscription, int64_t after_id,
                                              size_t limit) override {
    return next_->ListParked(subscription, after_id, limit);
  }
  Result<int64_t> CountParked(const std::string& subscription) override {
    return next_->CountParked(subscription);
  }
  Result<std::vector<ParkedEvent>> RetryRequested(const std::string& subscription,
                                                  size_t limit) override {
    return next_->RetryRequested(subscription, limit);
  }
  Status RequestRetry(int64_t parked_id) override { return next_->RequestRetry(parked_id); }
  Status FinishRetry(int64_t parked_id, const std::optional<std::string>& error) override {
    return next_->FinishRetry(parked_id, error);
  }
  Status Unpark(int64_t parked_id) override { return next_->Unpark(parked_id); }
  Status SaveState(const std::string& subscription, const std::string& state,
                   const std::string& error) override {
    return next_->SaveState(subscription, state, error);
  }

 private:
  const std::shared_ptr<CheckpointStore> next_;
};

}  // namespace evs::feed
