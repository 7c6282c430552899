// Static export: `next build` writes the whole site to out/ (index.html, 404.html, _next/static/…).
// Nothing here names an API address: the page reads /config.json at run time.
/** @type {import('next').NextConfig} */
const nextConfig = {
  output: "export",
  images: { unoptimized: true },
  poweredByHeader: false,
  reactStrictMode: true,
};

export default nextConfig;
