// Tests against the local AWS stand-ins (scripts/standins): whether they run, a DynamoDB client
// for them, and throwaway table names.
//
// They run when EVS_TEST_AWS=1, which `source DIR/env` sets along with the endpoints; unset,
// they skip and say how to run them. EVS_TEST_AWS=1 without a DynamoDB endpoint is a test
// failure, never a run against real AWS.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "aws/aws_client.h"
#include "evs/uuid.h"

namespace evs::testing {

// "" when the stand-in tests run; otherwise why they skip.
inline std::string AwsTestSkipReason() {
  const char* flag = std::getenv("EVS_TEST_AWS");
  if (flag != nullptr && std::string(flag) == "1") return "";
  return "EVS_TEST_AWS is not 1: start the local AWS stand-ins to run the DynamoDB tests "
         "(scripts/standins start DIR; source DIR/env)";
}

// A client for the DynamoDB stand-in over `transport` (libcurl when null). nullptr, after a test
// failure saying why, when the environment does not name the stand-in.
inline std::shared_ptr<aws::AwsClient> DynamoDbTestClient(
    std::unique_ptr<aws::HttpTransport> transport = nullptr, aws::RetryPolicy retry = {}) {
  auto config = aws::AwsConfigFromEnvironment();
  if (!config.ok()) {
    ADD_FAILURE() << "EVS_TEST_AWS=1 but the AWS settings are incomplete: "
                  << config.error().message << " (source the env file of scripts/standins)";
    return nullptr;
  }
  if (config->dynamodb_endpoint.empty()) {
    ADD_FAILURE() << "EVS_TEST_AWS=1 but AWS_ENDPOINT_URL_DYNAMODB (or AWS_ENDPOINT_URL) is not "
                     "set: source the env file of scripts/standins; tests never use real AWS";
    return nullptr;
  }
  if (transport == nullptr) transport = aws::NewCurlTransport();
  return std::make_shared<aws::AwsClient>(std::move(config).value(), std::move(transport), retry);
}

// A table name no other test uses.
inline std::string UniqueTableName(const std::string& prefix) {
  return prefix + "-" + Uuid::Random().ToString();
}

// Deletes a test's table (the stand-in keeps tables in memory); failures do not matter.
inline void DeleteTable(aws::AwsClient& client, const std::string& table) {
  (void)client.CallJson(aws::Service::kDynamoDb, "DeleteTable", {{"TableName", table}});
}

}  // namespace evs::testing
