// The production HttpTransport: libcurl, one easy handle per thread.
#include <curl/curl.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "aws/aws_client.h"
#include "common/strings.h"

namespace evs::aws {
namespace {

// curl_global_init is not safe to race with other libcurl calls: once, before the first handle.
CURLcode GlobalInit() {
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  return rc;
}

// An easy handle must not be used by two threads at once; one per thread also keeps that
// thread's connections alive between requests (curl_easy_reset keeps them).
struct ThreadHandle {
  CURL* curl = nullptr;
  ~ThreadHandle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

CURL* HandleForThisThread() {
  thread_local ThreadHandle handle;
  if (handle.curl == nullptr) handle.curl = curl_easy_init();
  return handle.curl;
}

class HeaderList {
 public:
  HeaderList() = default;
  HeaderList(const HeaderList&) = delete;
  HeaderList& operator=(const HeaderList&) = delete;
  ~HeaderList() { curl_slist_free_all(list_); }
  bool Append(const std::string& line) {
    curl_slist* next = curl_slist_append(list_, line.c_str());
    if (next == nullptr) return false;
    list_ = next;
    return true;
  }
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* headers = static_cast<Headers*>(user);
  std::string_view line(data, size * count);
  // A status line starts a response: headers of an interim one (100 Continue) are dropped.
  if (line.starts_with("HTTP/")) {
    headers->clear();
    return size * count;
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    headers->emplace_back(AsciiLower(TrimSpace(line.substr(0, colon))),
                          std::string(TrimSpace(line.substr(colon + 1))));
  }
  return size * count;
}

class CurlTransport : public HttpTransport {
 public:
  explicit CurlTransport(const CurlOptions& options) : options_(options) {}

  Result<HttpResponse> Send(const HttpRequest& request) override {
    std::string what = request.method + " " + request.url;
    if (CURLcode rc = GlobalInit(); rc != CURLE_OK) {
      return Error::Make(ErrorCode::kUnavailable,
                         what + ": libcurl failed to initialize: " + curl_easy_strerror(rc));
    }
    CURL* curl = HandleForThisThread();
    if (curl == nullptr) {
      return Error::Make(ErrorCode::kUnavailable, what + ": libcurl could not create a handle");
    }
    curl_easy_reset(curl);

    HeaderList headers;
    bool has_content_type = false;
    bool ok = true;
    for (const auto& [name, value] : request.headers) {
      if (AsciiLower(name) == "content-type") has_content_type = true;
      // "Name;" is libcurl's way to send a header with an empty value.
      ok = ok && headers.Append(value.empty() ? name + ";" : name + ": " + value);
    }
    // No "Expect: 100-continue" round trip, and no default form content type that the
    // signature does not cover.
    ok = ok && headers.Append("Expect:");
    if (!has_content_type) ok = ok && headers.Append("Content-Type:");
    if (!ok) return Error::Make(ErrorCode::kUnavailable, what + ": out of memory for headers");

    HttpResponse response;
    char error_text[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM in threads
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options_.connect_timeout.count()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "evs");
    // The CA bundle where the image keeps it, when not where this libcurl was built to look
    // (the Lambda zip carries Debian's libcurl onto Amazon Linux: its bootstrap sets this).
    if (const char* ca = std::getenv("EVS_CA_BUNDLE"); ca != nullptr && *ca != '\0') {
      curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
    }
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
    if (request.method == "GET") {
      curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else if (request.method == "HEAD") {
      curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);  // else curl waits for a body that never comes
    } else {
      if (request.method != "POST") {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      }
      // POST and PUT always carry a body (Content-Length: 0 when empty); DELETE only when given.
      if (request.method == "POST" || request.method == "PUT" || !request.body.empty()) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.body.size()));
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
      }
    }

    CURLcode rc = curl_easy_perform(curl);
    // The handle keeps pointers to these; drop them before they go out of scope.
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
    if (rc != CURLE_OK) {
      std::string reason = error_text[0] != '\0' ? error_text : curl_easy_strerror(rc);
      return Error::Make(ErrorCode::kUnavailable, what + ": " + reason);
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    response.status = static_cast<int>(status);
    return response;
  }

 private:
  CurlOptions options_;
};

}  // namespace

std::unique_ptr<HttpTransport> NewCurlTransport(const CurlOptions& options) {
  return std::make_unique<CurlTransport>(options);
}

}  // namespace evs::aws
