// Map picking for /report: a tap on the district map fills latitude and longitude (the form works without it).
(function () {
  "use strict";
  var picker = document.getElementById("picker");
  if (!picker) { return; }
  var svg = picker.querySelector("svg");
  var lat = document.getElementById("lat"), lon = document.getElementById("long");
  var f = picker.dataset, ns = "http://www.w3.org/2000/svg";
  var lon0 = parseFloat(f.lon0), lat1 = parseFloat(f.lat1), kx = parseFloat(f.kx), scale = parseFloat(f.scale), pad = parseFloat(f.pad);
  var pin = document.createElementNS(ns, "circle");
  pin.setAttribute("r", "8"); pin.setAttribute("class", "here");
  function place(x, y) { pin.setAttribute("cx", x); pin.setAttribute("cy", y); if (!pin.parentNode) { svg.appendChild(pin); } }
  svg.addEventListener("click", function (event) {
    var point = svg.createSVGPoint();
    point.x = event.clientX; point.y = event.clientY;
    var p = point.matrixTransform(svg.getScreenCTM().inverse());
    lon.value = (lon0 + (p.x - pad) / (kx * scale)).toFixed(6);
    lat.value = (lat1 - (p.y - pad) / scale).toFixed(6);
    place(p.x, p.y);
  });
  function fromInputs() {
    var a = parseFloat(lat.value), o = parseFloat(lon.value);
    if (!isNaN(a) && !isNaN(o)) { place(pad + (o - lon0) * kx * scale, pad + (lat1 - a) * scale); }
  }
  lat.addEventListener("change", fromInputs); lon.addEventListener("change", fromInputs);
  fromInputs();
})();
