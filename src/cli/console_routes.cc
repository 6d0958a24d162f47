#include "cli/console_routes.h"

#include <string>

#include "evs/http/responses.h"

namespace evs::cli {
namespace {

const ConsoleAsset* FindAsset(std::string_view name) {
  for (const ConsoleAsset& asset : ConsoleAssets()) {
    if (asset.name == name) return &asset;
  }
  return nullptr;
}

http::Response NotBuilt() {
  return http::Problem(404, "console_not_built",
                       "this evs was built without the web console; build it with "
                       "-DEVS_BUILD_CONSOLE=ON after scripts/setup (which installs uPlot)");
}

// The asset, or 304 when the request's If-None-Match names its ETag.
http::Response Serve(const http::Request& request, const ConsoleAsset& asset) {
  http::Response r;
  r.headers = {{"ETag", std::string(asset.etag)},
               {"Cache-Control", "no-cache"},
               {"Content-Security-Policy", std::string(kConsoleContentSecurityPolicy)},
               {"X-Content-Type-Options", "nosniff"},
               {"Referrer-Policy", "no-referrer"}};
  if (auto match = request.Header("If-None-Match");
      match && match->find(asset.etag) != std::string_view::npos) {
    r.status = 304;
    r.content_type.clear();
    return r;
  }
  r.content_type = std::string(asset.content_type);
  r.body = std::string(asset.bytes);
  return r;
}

http::Response Page(const http::Request& request, const http::Params&) {
  const ConsoleAsset* page = FindAsset("index.html");
  return page ? Serve(request, *page) : NotBuilt();
}

http::Response Asset(const http::Request& request, const http::Params& params) {
  if (ConsoleAssets().empty()) return NotBuilt();
  const std::string& name = params.path.at("file");
  const ConsoleAsset* asset = name == "index.html" ? nullptr : FindAsset(name);
  if (!asset) return http::Problem(404, "not_found", "the console has no asset '" + name + "'");
  return Serve(request, *asset);
}

}  // namespace

Status AddConsoleRoutes(http::Routes& routes) {
  for (const char* pattern : {"/", "/ui", "/ui/{page}", "/ui/{page}/{id}"}) {
    if (Status s = routes.Add("GET", pattern, Page); !s.ok()) return s;
  }
  return routes.Add("GET", "/ui/assets/{file}", Asset);
}

}  // namespace evs::cli
