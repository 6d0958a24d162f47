// GET /openapi.json and the document it answers (docs/openapi.json) kept true: its paths and
// methods are exactly the routes `evs serve` serves (an Api built by AddServeRoutes, as the serve
// command builds it), both ways, where a documented path may also be a special case of a served
// pattern's parameter (/streams/$ce-{category} of /streams/{id}); it is what the server answers;
// the README's route table lists the same routes. tools/openapi/validate.js (the openapi_valid
// test) validates it as OpenAPI.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cart/cart_http.h"
#include "cli/serve_routes.h"
#include "evs/event_store.h"
#include "evs/http/api.h"

namespace evs::cli {
namespace {

using Routes = std::set<std::string>;  // "METHOD /pattern"

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Each element of `a` that `b` lacks, one per line.
std::string Missing(const Routes& a, const Routes& b) {
  std::string out;
  for (const std::string& route : a) {
    if (!b.count(route)) out += "  " + route + "\n";
  }
  return out;
}

// The routes of the document: each path with each of its operations (path templates are route
// patterns: "{id}" is "{id}").
Routes DocumentedRoutes(const nlohmann::json& document) {
  static const std::set<std::string> kMethods = {"get",     "put",  "post",  "delete",
                                                 "options", "head", "patch", "trace"};
  Routes routes;
  for (const auto& [path, item] : document.at("paths").items()) {
    for (const auto& [key, operation] : item.items()) {
      if (!kMethods.count(key)) continue;
      std::string method = key;
      for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      routes.insert(method + " " + path);
    }
  }
  return routes;
}

std::vector<std::string> Segments(const std::string& path) {
  std::vector<std::string> segments;
  std::istringstream parts(path);
  for (std::string segment; std::getline(parts, segment, '/');) segments.push_back(segment);
  return segments;
}

// Whether documented route `documented` is served by the route pattern `served` as a special
// case of one of its parameters: "GET /streams/$ce-{category}" (a category stream) by
// "GET /streams/{id}". Each segment is the same, or the served one is a whole "{param}" and the
// documented one a literal prefix and then "{...}" (not a whole "{param}": a renamed parameter
// is no special case).
bool ServedAsSpecialCase(const std::string& documented, const std::string& served) {
  const size_t d_space = documented.find(' ');
  const size_t s_space = served.find(' ');
  if (documented.substr(0, d_space) != served.substr(0, s_space)) return false;  // the method
  const std::vector<std::string> d = Segments(documented.substr(d_space + 1));
  const std::vector<std::string> s = Segments(served.substr(s_space + 1));
  if (d.size() != s.size()) return false;
  bool special = false;
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i] == s[i]) continue;
    const bool whole_parameter = !s[i].empty() && s[i].front() == '{' && s[i].back() == '}';
    const size_t brace = d[i].find('{');
    if (!whole_parameter || brace == 0 || brace == std::string::npos || d[i].back() != '}') {
      return false;
    }
    special = true;
  }
  return special;
}

class OpenApiTest : public ::testing::Test {
 protected:
  OpenApiTest() {
    const Status added = AddServeRoutes(api_, cart_);
    EXPECT_TRUE(added.ok()) << added.error().message;
  }

  Routes ServedRoutes() const {
    Routes routes;
    for (const http::RouteInfo& route : api_.ListRoutes()) {
      routes.insert(route.method + " " + route.pattern);
    }
    return routes;
  }

  static nlohmann::json Document() { return nlohmann::json::parse(OpenApiDocument()); }

  std::unique_ptr<EventStore> store_ = NewMemoryEventStore();
  http::Api api_{*store_};
  cart::CartHttp cart_{*store_};
};

TEST_F(OpenApiTest, DocumentsExactlyTheRoutesServed) {
  const Routes served = ServedRoutes();
  const Routes documented = DocumentedRoutes(Document());
  ASSERT_GT(served.size(), 20u);  // the store's, the cart's and /openapi.json
  EXPECT_EQ(Missing(served, documented), "")
      << "served but not in docs/openapi.json (document them there):";
  // The category and type streams have paths of their own in the document, served by
  // /streams/{id}: documented routes that are such special cases of a served one are served.
  Routes documented_not_special = documented;
  for (const std::string& route : documented) {
    if (served.count(route)) continue;
    for (const std::string& pattern : served) {
      if (ServedAsSpecialCase(route, pattern)) documented_not_special.erase(route);
    }
  }
  EXPECT_EQ(Missing(documented_not_special, served), "")
      << "in docs/openapi.json but not served (a route removed or renamed?):";
}

TEST(OpenApiSpecialCaseTest, OnlyLiteralPrefixedParametersAreSpecialCases) {
  EXPECT_TRUE(ServedAsSpecialCase("GET /streams/$ce-{category}", "GET /streams/{id}"));
  EXPECT_TRUE(ServedAsSpecialCase("GET /streams/$et-{type}", "GET /streams/{id}"));
  EXPECT_FALSE(ServedAsSpecialCase("POST /streams/$ce-{category}", "GET /streams/{id}"));
  EXPECT_FALSE(ServedAsSpecialCase("GET /streams/{stream}", "GET /streams/{id}"));
  EXPECT_FALSE(ServedAsSpecialCase("GET /streams/{id}", "GET /streams/{id}"));
  EXPECT_FALSE(ServedAsSpecialCase("GET /streams/$ce-{category}/x", "GET /streams/{id}"));
  EXPECT_FALSE(ServedAsSpecialCase("GET /streams/$ce-x", "GET /streams/{id}"));
  EXPECT_FALSE(ServedAsSpecialCase("GET /carts/$ce-{category}", "GET /streams/{id}"));
}

TEST_F(OpenApiTest, ListRoutesKeepsTheOrderOfAdding) {
  const std::vector<http::RouteInfo> routes = api_.ListRoutes();
  ASSERT_GE(routes.size(), 2u);
  EXPECT_EQ(routes.front().method + " " + routes.front().pattern, "GET /healthz");
  EXPECT_EQ(routes.back().method + " " + routes.back().pattern, "GET /openapi.json");
}

TEST_F(OpenApiTest, WritesNeedTheBearerTokenAndReadsDoNot) {
  const nlohmann::json document = Document();  // outlives the loop (a temporary would not)
  for (const auto& [path, item] : document.at("paths").items()) {
    for (const auto& [method, operation] : item.items()) {
      const bool write = method != "get" && method != "head";
      const nlohmann::json bearer = nlohmann::json::parse(R"([{"bearerToken": []}])");
      EXPECT_EQ(operation.value("security", nlohmann::json()),
                write ? bearer : nlohmann::json::array())
          << method << " " << path;
      EXPECT_EQ(operation.at("responses").contains("401"), write) << method << " " << path;
    }
  }
}

// swagger-parser checks no more than the OpenAPI schema for OpenAPI 3: that each "{name}" of a
// path is a declared path parameter of each of its operations, and no other, is checked here.
TEST_F(OpenApiTest, EachOperationDeclaresExactlyThePathParametersOfItsTemplate) {
  const nlohmann::json document = Document();
  const std::regex template_parameter(R"(\{([^}/]+)\})");
  for (const auto& [path, item] : document.at("paths").items()) {
    std::set<std::string> in_template;
    for (std::sregex_iterator it(path.begin(), path.end(), template_parameter), end; it != end;
         ++it) {
      in_template.insert((*it)[1].str());
    }
    for (const auto& [method, operation] : item.items()) {
      std::set<std::string> declared;
      for (nlohmann::json parameter : operation.value("parameters", nlohmann::json::array())) {
        if (parameter.contains("$ref")) {
          const std::string ref = parameter["$ref"];
          parameter = document.at(nlohmann::json::json_pointer(ref.substr(1)));
        }
        if (parameter.at("in") == "path") {
          EXPECT_TRUE(parameter.value("required", false)) << method << " " << path;
          declared.insert(parameter.at("name").get<std::string>());
        }
      }
      EXPECT_EQ(declared, in_template) << method << " " << path;
    }
  }
}

TEST_F(OpenApiTest, GetOpenApiJsonAnswersTheCommittedDocument) {
  http::Request request;
  request.method = "GET";
  request.target = "/openapi.json";
  const http::Response response = api_.Handle(request);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body, OpenApiDocument());
  // The embedded bytes are the file's (the build embeds it again whenever it changes).
  EXPECT_EQ(response.body, ReadFile(EVS_OPENAPI_JSON));
  const nlohmann::json document = nlohmann::json::parse(response.body);
  EXPECT_EQ(document.at("openapi").get<std::string>().substr(0, 2), "3.");
}

// The README's section "The HTTP API" lists each route in the first column of its table, like
// "| `GET /streams/{id}?from=&limit=` | ..." or "| `POST /admin/scavenge[?step=N]`, `GET ...`".
Routes ReadmeRoutes(const std::string& readme) {
  const size_t start = readme.find("\n## The HTTP API");
  EXPECT_NE(start, std::string::npos) << "README.md has no section \"## The HTTP API\"";
  if (start == std::string::npos) return {};
  const std::string section = readme.substr(start, readme.find("\n## ", start + 1) - start);
  const std::regex route(R"(`(GET|POST|PUT|DELETE|PATCH) (/[^\s`?\[]*))");
  Routes routes;
  std::istringstream lines(section);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| `", 0) != 0) continue;  // a table row naming routes
    const std::string first_cell = line.substr(0, line.find(" | "));
    for (std::sregex_iterator it(first_cell.begin(), first_cell.end(), route), end; it != end;
         ++it) {
      routes.insert((*it)[1].str() + " " + (*it)[2].str());
    }
  }
  return routes;
}

TEST_F(OpenApiTest, ReadmeRouteTableListsTheDocumentedRoutes) {
  const Routes readme = ReadmeRoutes(ReadFile(EVS_README));
  const Routes documented = DocumentedRoutes(Document());
  EXPECT_EQ(Missing(documented, readme), "")
      << "in docs/openapi.json but not in the README's table (\"## The HTTP API\"):";
  EXPECT_EQ(Missing(readme, documented), "")
      << "in the README's table but not in docs/openapi.json:";
}

}  // namespace
}  // namespace evs::cli
