// The web console of `evs serve`: a page app (web/console/) served at "/" and under "/ui/", made
// of files embedded into the program at build time (cmake/embed_assets.cmake), so that nothing
// is read from disk or fetched from another host at run time. The console reads and writes
// through the public HTTP API only.
//
//   GET /                        the app (the dashboard)
//   GET /ui, /ui/{page}, /ui/{page}/{id}
//                                the app: each console address answers it, so a deep link
//                                (/ui/streams/cart-1) works on reload; the app shows the page
//   GET /ui/assets/{file}        the app's scripts and styles (and uPlot, the charts)
//
// Every answer carries an ETag (a digest of the file) with "Cache-Control: no-cache" (revalidated,
// 304 on If-None-Match) and a Content-Security-Policy that allows only the server itself. A build
// without the console (EVS_BUILD_CONSOLE=OFF) serves the same routes, each a 404 problem (code
// "console_not_built") that says how to build it in.
#pragma once

#include <span>
#include <string_view>

#include "evs/http/routes.h"
#include "evs/status.h"

namespace evs::cli {

// One embedded file of the console.
struct ConsoleAsset {
  std::string_view name;          // like "app.js": its path under /ui/assets/
  std::string_view content_type;  // like "text/javascript; charset=utf-8"
  std::string_view etag;          // a digest of the bytes, quoted: "\"0123456789abcdef\""
  std::string_view bytes;         // the file as it was at build time
};

// Every embedded file (index.html is the app's page); empty in a build without the console.
std::span<const ConsoleAsset> ConsoleAssets();

// The Content-Security-Policy of every console answer: only the server's own scripts, styles,
// images and connections; no frames, no inline script.
inline constexpr std::string_view kConsoleContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

// Adds the console's routes (above) to `routes`. Fails as Routes::Add does.
Status AddConsoleRoutes(http::Routes& routes);

}  // namespace evs::cli
