// The HTTP component of the installed evs: a route of the consumer's own added to the Api beside
// the store's routes, served through Api::Handle (in process: no socket needed).
#include <evs/event_store.h>
#include <evs/http/api.h>
#include <evs/http/responses.h>
#include <evs/http/routes.h>

#include <cstdio>
#include <string>

int main() {
  auto store = evs::NewMemoryEventStore();
  evs::http::Api api(*store);
  evs::Status added = api.routes().Add(
      "GET", "/hello/{name}", [](const evs::http::Request&, const evs::http::Params& params) {
        return evs::http::JsonResponse({{"hello", params.path.at("name")}});
      });
  if (!added.ok()) return 1;
  evs::http::Request request;
  request.method = "GET";
  request.target = "/hello/evs";
  evs::http::Response response = api.Handle(request);
  if (response.status != 200 || response.body.find("\"evs\"") == std::string::npos) {
    std::fprintf(stderr, "hello_route: %d %s\n", response.status, response.body.c_str());
    return 1;
  }
  request.target = "/streams";  // the store's own routes are there too
  if (api.Handle(request).status != 200) return 1;
  std::printf("GET /hello/evs -> %s\n", response.body.c_str());
  return 0;
}
