// The SigV4 signer against known answers: the 8 vectors produced by the AWS SDK's own signer
// (tests/data/sigv4_vectors.json), the example
// of the AWS documentation, and the encoding rules one by one. None of the local stand-ins
// checks signatures, so these tests are the only check of the signer before real AWS.
#include "aws/sigv4.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace evs::aws {
namespace {

nlohmann::json LoadVectorFile() {
  std::ifstream in(EVS_SIGV4_VECTORS, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
}

std::vector<nlohmann::json> LoadVectors() {
  nlohmann::json file = LoadVectorFile();
  if (!file.is_object() || !file.contains("vectors") || !file["vectors"].is_array()) return {};
  return file["vectors"].get<std::vector<nlohmann::json>>();
}

// "2026-01-02T03:04:05.000Z" as seconds since the epoch.
int64_t ParseDate(const std::string& text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d", &year, &month, &day, &hour, &minute,
                  &second) != 6) {
    return -1;
  }
  using namespace std::chrono;
  sys_days date = year_month_day{std::chrono::year{year}, std::chrono::month{unsigned(month)},
                                 std::chrono::day{unsigned(day)}};
  return (date.time_since_epoch() + hours{hour} + minutes{minute} + seconds{second}) / seconds{1};
}

std::string HeaderValue(const HttpRequest& request, const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    std::string lower = key;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == name) return value;
  }
  return "";
}

int HeaderCount(const HttpRequest& request, const std::string& name) {
  int count = 0;
  for (const auto& [key, value] : request.headers) {
    std::string lower = key;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    count += lower == name ? 1 : 0;
  }
  return count;
}

// The file must be there and whole: a missing copy fails the build's tests instead of skipping.
TEST(Sigv4VectorFile, HoldsEightVectorsAndTheirInputs) {
  nlohmann::json file = LoadVectorFile();
  ASSERT_TRUE(file.is_object()) << "cannot read the SigV4 vectors at " << EVS_SIGV4_VECTORS;
  EXPECT_EQ(file["date"], "2026-01-02T03:04:05.000Z");
  EXPECT_EQ(ParseDate(file["date"].get<std::string>()), 1767323045);
  EXPECT_TRUE(file["credentials"]["accessKeyId"].is_string());
  EXPECT_TRUE(file["credentials"]["secretAccessKey"].is_string());
  ASSERT_EQ(LoadVectors().size(), 8u);
}

class Sigv4Vector : public ::testing::TestWithParam<nlohmann::json> {};

TEST_P(Sigv4Vector, ReproducesTheSdkSigner) {
  const nlohmann::json& vector = GetParam();
  nlohmann::json file = LoadVectorFile();
  Credentials credentials;
  credentials.access_key_id = file["credentials"]["accessKeyId"].get<std::string>();
  credentials.secret_access_key = file["credentials"]["secretAccessKey"].get<std::string>();

  HttpRequest request;
  request.method = vector["method"].get<std::string>();
  request.url = vector["url"].get<std::string>();
  request.body = vector["body"].get<std::string>();
  for (const auto& [name, value] : vector["request_headers"].items()) {
    request.headers.emplace_back(name, value.get<std::string>());
  }
  // The SDK was told to leave this payload unsigned; evs says so with the header itself.
  if (vector["payload_hash"] == "UNSIGNED-PAYLOAD") {
    request.headers.emplace_back("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD");
  }
  std::string region = vector["region"].get<std::string>();
  std::string service = vector["service"].get<std::string>();
  SigningParams params;
  params.credentials = &credentials;
  params.region = region;
  params.service = service;
  params.unix_time = ParseDate(file["date"].get<std::string>());
  params.add_content_sha256_header = service == "s3";

  SigningResult result = SignRequest(request, params);
  EXPECT_EQ(result.canonical_request, vector["canonical_request"].get<std::string>());
  EXPECT_EQ(result.string_to_sign, vector["string_to_sign"].get<std::string>());
  EXPECT_EQ(result.signature, vector["signature"].get<std::string>());
  EXPECT_EQ(HeaderValue(request, "authorization"), vector["authorization"].get<std::string>());
  EXPECT_EQ(HeaderCount(request, "authorization"), 1);
  EXPECT_EQ(HeaderValue(request, "x-amz-date"), "20260102T030405Z");
  if (service == "s3") {
    EXPECT_EQ(HeaderValue(request, "x-amz-content-sha256"), vector["payload_hash"]);
    EXPECT_EQ(HeaderCount(request, "x-amz-content-sha256"), 1);
  } else {
    EXPECT_EQ(HeaderCount(request, "x-amz-content-sha256"), 0);
  }
}

std::string VectorName(const ::testing::TestParamInfo<nlohmann::json>& info) {
  std::string name = info.param["name"].get<std::string>();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(SdkVectors, Sigv4Vector, ::testing::ValuesIn(LoadVectors()), VectorName);

// The example of the AWS documentation ("Create a signed AWS API request": IAM ListUsers).
TEST(Sigv4, ReproducesTheAwsDocumentationExample) {
  Credentials credentials{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
  HttpRequest request{"GET",
                      "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
                      {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}},
                      ""};
  SigningParams params{&credentials, "us-east-1", "iam", 1440938160, false};
  SigningResult result = SignRequest(request, params);
  EXPECT_EQ(result.canonical_request,
            "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
            "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
            "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "content-type;host;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(result.signature, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

SigningResult SignFor(HttpRequest& request, const std::string& service,
                      const Credentials& credentials = {"AKID", "SECRET", ""}) {
  SigningParams params{&credentials, "us-east-1", service, 1767323045, service == "s3"};
  return SignRequest(request, params);
}

// Line `index` (0-based) of a canonical request.
std::string Line(const std::string& text, int index) {
  std::stringstream in(text);
  std::string line;
  for (int i = 0; i <= index; ++i) std::getline(in, line);
  return line;
}

TEST(Sigv4, OtherServicesNormalizeThePathAndEncodeItAgain) {
  HttpRequest request{"GET", "https://example.amazonaws.com/a%20b/./c//../d/", {}, ""};
  EXPECT_EQ(Line(SignFor(request, "execute-api").canonical_request, 1), "/a%2520b/d/");
  HttpRequest root{"POST", "http://127.0.0.1:8000", {}, ""};
  EXPECT_EQ(Line(SignFor(root, "dynamodb").canonical_request, 1), "/");
}

TEST(Sigv4, S3SignsThePathAsSent) {
  HttpRequest request{"GET", "http://127.0.0.1:4569/bucket/a//b/./c%20d", {}, ""};
  EXPECT_EQ(Line(SignFor(request, "s3").canonical_request, 1), "/bucket/a//b/./c%20d");
}

TEST(Sigv4, CanonicalQuerySortsByNameThenValueAndEncodesAgain) {
  HttpRequest request{"GET", "http://h/?b=2&a=z&a=y&flag&c=%7e+x&d=a/b", {}, ""};
  EXPECT_EQ(Line(SignFor(request, "s3").canonical_request, 2), "a=y&a=z&b=2&c=~%2Bx&d=a%2Fb&flag=");
}

TEST(Sigv4, CanonicalHeadersAreLowerCaseTrimmedCollapsedAndSorted) {
  HttpRequest request{"GET",
                      "http://h/",
                      {{"X-Zed", "  a   b\t c  "},
                       {"X-Multi", "1"},
                       {"x-multi", "2"},
                       {"User-Agent", "not signed"}},
                      ""};
  SigningResult result = SignFor(request, "dynamodb");
  EXPECT_NE(result.canonical_request.find("host:h\nx-amz-date:20260102T030405Z\n"
                                          "x-multi:1,2\nx-zed:a b c\n\n"
                                          "host;x-amz-date;x-multi;x-zed\n"),
            std::string::npos)
      << result.canonical_request;
}

TEST(Sigv4, AddsTheSessionTokenAndSignsIt) {
  HttpRequest request{"POST", "http://127.0.0.1:8000/", {}, "{}"};
  SignFor(request, "dynamodb", {"AKID", "SECRET", "TOKEN"});
  EXPECT_EQ(HeaderValue(request, "x-amz-security-token"), "TOKEN");
  EXPECT_NE(HeaderValue(request, "authorization").find("host;x-amz-date;x-amz-security-token,"),
            std::string::npos);
}

TEST(Sigv4, SigningAgainReplacesTheSignatureAndDate) {
  HttpRequest request{"PUT", "http://127.0.0.1:4569/b/k", {}, "body"};
  SigningResult first = SignFor(request, "s3");
  SigningResult second = SignFor(request, "s3");
  EXPECT_EQ(first.signature, second.signature);
  EXPECT_EQ(HeaderCount(request, "authorization"), 1);
  EXPECT_EQ(HeaderCount(request, "x-amz-date"), 1);
  EXPECT_EQ(HeaderCount(request, "host"), 1);
  EXPECT_EQ(HeaderCount(request, "x-amz-content-sha256"), 1);
  EXPECT_EQ(HeaderValue(request, "x-amz-content-sha256"), Sha256Hex("body"));
}

TEST(Sha256Hex, KnownDigests) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(std::string("a\0b", 3)),
            "59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138");
}

TEST(UriEncode, KeepsUnreservedAndEncodesEverythingElseInUpperCase) {
  EXPECT_EQ(UriEncode("AZaz09-_.~", false), "AZaz09-_.~");
  EXPECT_EQ(UriEncode("a b+c=d&e", false), "a%20b%2Bc%3Dd%26e");
  EXPECT_EQ(UriEncode("*'()!$,;:@", false), "%2A%27%28%29%21%24%2C%3B%3A%40");
  EXPECT_EQ(UriEncode("\xc3\xbc\xff", false), "%C3%BC%FF");
  EXPECT_EQ(UriEncode(std::string("\0", 1), false), "%00");
  EXPECT_EQ(UriEncode("", false), "");
}

TEST(UriEncode, KeepsSlashOnlyInPaths) {
  EXPECT_EQ(UriEncode("/bucket/a b/%", true), "/bucket/a%20b/%25");
  EXPECT_EQ(UriEncode("/bucket/a b/%", false), "%2Fbucket%2Fa%20b%2F%25");
}

}  // namespace
}  // namespace evs::aws
