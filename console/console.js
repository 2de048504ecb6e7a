/*
 * The functions console: one page, no build step, no library.
 *
 * Rules this file keeps (docs/console.md):
 * - everything shown that came from the API or a function is a text node
 *   (el() below makes every element; nothing here assigns HTML);
 * - the API token is kept in sessionStorage and sent only as an
 *   Authorization header to this origin;
 * - it speaks to /v1 (the API, and /v1/invoke/ to call a route) and to
 *   the metrics locations config.json names.
 */
'use strict';

(function () {

    var TOKEN_KEY = 'functions.token';
    var view = document.getElementById('view');
    var config = { metrics: ['/metrics'], refresh_seconds: 3 };
    var timers = [];            /* stopped when the view changes */

    /* ------------------------------------------------------------ DOM */

    /*
     * el('tag', {attributes}, children...): strings become text nodes.
     * Attributes go through setAttribute, but no event handler ("on...")
     * and no "style" (the CSP refuses inline style anyway).
     */
    function el(tag, attrs) {
        var e = tag.indexOf('svg:') === 0
            ? document.createElementNS('http://www.w3.org/2000/svg',
                                       tag.slice(4))
            : document.createElement(tag);
        var k, i;

        for (k in attrs || {}) {
            if (!Object.prototype.hasOwnProperty.call(attrs, k)
                || attrs[k] === undefined || attrs[k] === null
                || attrs[k] === false)
            {
                continue;
            }
            if (/^on/i.test(k) || k === 'style') {
                throw new Error('el: attribute ' + k + ' is not allowed');
            }
            e.setAttribute(k, attrs[k] === true ? '' : String(attrs[k]));
        }

        for (i = 2; i < arguments.length; i++) {
            add(e, arguments[i]);
        }
        return e;
    }

    function add(parent, child) {
        if (child === undefined || child === null || child === false) {
            return;
        }
        if (Array.isArray(child)) {
            child.forEach(function (c) { add(parent, c); });
            return;
        }
        if (!(child instanceof Node)) {
            child = document.createTextNode(String(child));
        }
        parent.appendChild(child);
    }

    function clear(e) {
        while (e.firstChild) {
            e.removeChild(e.firstChild);
        }
    }

    function show() {
        var i;
        clear(view);
        for (i = 0; i < arguments.length; i++) {
            add(view, arguments[i]);
        }
    }

    function on(e, event, fn) {
        e.addEventListener(event, fn);
        return e;
    }

    function link(hash, text) {
        return el('a', { href: hash }, text);
    }

    /* ------------------------------------------------------- the API */

    function token() {
        return sessionStorage.getItem(TOKEN_KEY);
    }

    function sameOrigin(url) {
        try {
            return new URL(url, location.href).origin === location.origin;
        } catch (e) {
            return false;
        }
    }

    /* what the views take from the address: as the API's rules have it */
    function validApp(s) {
        return /^[A-Za-z0-9_-]{1,30}$/.test(s);
    }

    function validCallId(s) {
        return /^[0-9A-HJKMNP-TV-Z]{26}$/.test(s);
    }

    function validPath(s) {
        return s === '/'
            || (s.length <= 255 && /^(\/[\x21-\x7e]+)+$/.test(s)
                && !/[?#%\\]/.test(s)
                && s.split('/').slice(1).every(function (g) {
                       return g !== '.' && g !== '..';
                   }));
    }

    /* a URL path from segments: every segment percent-encoded */
    function seg(s) {
        return encodeURIComponent(s);
    }

    /* to a view: hashchange draws it, or nothing would when it is shown */
    function go(hash) {
        if (location.hash === hash) {
            route();
        } else {
            location.hash = hash;
        }
    }

    /*
     * fetch() with the token; resolves to {status, headers, text, json}.
     * A 401 from the API ends the session: the token is wrong or gone.
     */
    function request(method, url, body, headers) {
        var h = new Headers(headers || {});
        var t = token();

        /* the token goes to this origin alone, whatever a URL says */
        if (!sameOrigin(url)) {
            return Promise.reject(new Error('not this server: ' + url));
        }
        if (t) {
            h.set('Authorization', 'Bearer ' + t);
        }
        if (body !== undefined && typeof body !== 'string') {
            body = JSON.stringify(body);
            h.set('Content-Type', 'application/json');
        }

        return fetch(url, {
            method: method, headers: h, body: body,
            credentials: 'omit', cache: 'no-store', redirect: 'error'
        }).then(function (res) {
            return res.text().then(function (text) {
                var r = { status: res.status, headers: res.headers,
                          text: text, json: null };
                try {
                    r.json = JSON.parse(text);
                } catch (e) { /* not JSON: shown as text */ }
                return r;
            });
        });
    }

    /* the API: a 401 means the token is wrong or gone */
    function api(method, url, body) {
        if (url.indexOf('/v1/apps') !== 0) {
            return Promise.reject(new Error('not the API: ' + url));
        }
        return request(method, url, body).then(function (r) {
            if (r.status === 401) {
                signOut('The server no longer takes this token: '
                        + message(r));
                throw new Error('signed out');
            }
            return r;
        });
    }

    function message(r) {
        if (r.json && r.json.error && typeof r.json.error.message
            === 'string')
        {
            return r.json.error.message;
        }
        return 'HTTP ' + r.status + (r.text ? ': ' + r.text.slice(0, 300)
                                            : '');
    }

    /* every item of a list, page after page */
    function listAll(url, key) {
        var items = [];

        function page(cursor) {
            var u = url + (url.indexOf('?') < 0 ? '?' : '&') + 'per_page=100'
                    + (cursor ? '&cursor=' + encodeURIComponent(cursor)
                              : '');
            return api('GET', u).then(function (r) {
                if (r.status !== 200 || !r.json) {
                    throw new Error(message(r));
                }
                items = items.concat(r.json[key] || []);
                return r.json.next_cursor ? page(r.json.next_cursor)
                                          : items;
            });
        }

        return page(null);
    }

    /* ---------------------------------------------------- sign in/out */

    function signOut(why) {
        sessionStorage.removeItem(TOKEN_KEY);
        history.replaceState(null, '', '#/login');
        login(why);
    }

    function login(why) {
        var input = el('input', { type: 'password', id: 'token',
                                  autocomplete: 'off', spellcheck: 'false' });
        var err = el('p', { class: 'error', id: 'login-error' }, why || '');
        var form = el('form', { class: 'card', id: 'login' },
            el('h1', {}, 'Sign in'),
            el('p', { class: 'muted' },
               'Paste an API token (scripts/api-token makes one). It is '
               + 'kept for this tab only and sent to this server alone.'),
            el('label', { for: 'token' }, 'API token'), input,
            el('div', { class: 'actions' },
               el('button', { class: 'primary', type: 'submit' },
                  'Sign in')),
            err);

        on(form, 'submit', function (ev) {
            var t = input.value.trim();
            ev.preventDefault();
            if (!t) {
                err.textContent = 'Paste a token first.';
                return;
            }
            request('GET', '/v1/apps?per_page=1', undefined,
                    { Authorization: 'Bearer ' + t })
                .then(function (r) {
                    if (r.status === 200) {
                        sessionStorage.setItem(TOKEN_KEY, t);
                        go('#/apps');
                    } else if (r.status === 401) {
                        err.textContent = 'The server refused this token: '
                                          + message(r);
                    } else {
                        err.textContent = 'The API answered: ' + message(r);
                    }
                }, function (e) {
                    err.textContent = 'The API cannot be reached: '
                                      + e.message;
                });
        });

        header();
        show(form);
        input.focus();
    }

    function header() {
        var out = document.getElementById('signout');
        var who = document.getElementById('who');
        out.hidden = !token();
        who.textContent = token() ? 'signed in' : '';
    }

    /* ----------------------------------------------------- key values */

    /*
     * An editor of name -> value rows (a config) or name -> [values] (a
     * route's headers: one row per value).  get() gives what a PATCH
     * needs: changed and new keys, and null for every key removed.
     */
    function pairs(id, initial, multi) {
        var box = el('div', { id: id, class: 'pairs' });
        var rows = el('div', {});
        var before = Object.keys(initial || {});

        function row(k, v) {
            var kn = el('input', { type: 'text', placeholder: 'name',
                                   'data-role': 'name', value: k || '' });
            var vn = el('input', { type: 'text', placeholder: 'value',
                                   'data-role': 'value', value: v || '' });
            var r = el('div', { class: 'row' }, kn, vn,
                       on(el('button', { type: 'button' }, 'Remove'),
                          'click', function () { rows.removeChild(r); }));
            rows.appendChild(r);
        }

        Object.keys(initial || {}).forEach(function (k) {
            var v = initial[k];
            if (multi && Array.isArray(v)) {
                v.forEach(function (x) { row(k, x); });
            } else {
                row(k, v);
            }
        });

        add(box, [rows, on(el('button', { type: 'button' }, 'Add'),
                           'click', function () { row('', ''); })]);

        box.get = function () {
            var out = Object.create(null);
            Array.prototype.forEach.call(rows.children, function (r) {
                var k = r.querySelector('[data-role=name]').value;
                var v = r.querySelector('[data-role=value]').value;
                if (k === '') {
                    return;
                }
                if (multi) {
                    (out[k] = out[k] || []).push(v);
                } else {
                    out[k] = v;
                }
            });
            before.forEach(function (k) {
                if (!Object.prototype.hasOwnProperty.call(out, k)) {
                    out[k] = null;
                }
            });
            return out;
        };

        return box;
    }

    /* a field's error beside it: the API's messages name the field */
    function fieldErrors(form, r, fallback) {
        var msg = message(r);
        var m = /field "([a-z_]+)"/.exec(msg);
        var slot = m && form.querySelector('[data-error-for="' + m[1]
                                           + '"]');
        Array.prototype.forEach.call(form.querySelectorAll('.field-error'),
            function (e) { e.textContent = ''; });
        (slot || fallback).textContent = msg;
    }

    function field(name, label, input) {
        input.id = input.id || 'f-' + name;
        return el('div', { class: 'field' },
                  el('label', { for: input.id }, label), input,
                  el('div', { class: 'field-error',
                              'data-error-for': name }));
    }

    /* ----------------------------------------------------------- apps */

    function appsView() {
        var list = el('tbody', {});
        var name = el('input', { type: 'text', id: 'new-app' });
        var cfg = pairs('new-app-config', {}, false);
        var err = el('p', { class: 'error' });
        var form = el('form', { class: 'card', id: 'create-app' },
            el('h2', {}, 'New app'),
            field('name', 'Name', name),
            el('label', {}, 'Config'), cfg,
            el('div', { class: 'actions' },
               el('button', { class: 'primary', type: 'submit' },
                  'Create app')),
            err);

        on(form, 'submit', function (ev) {
            ev.preventDefault();
            api('POST', '/v1/apps', { app: { name: name.value,
                                             config: strip(cfg.get()) } })
                .then(function (r) {
                    if (r.status === 200) {
                        go('#/apps/' + seg(name.value));
                    } else {
                        fieldErrors(form, r, err);
                    }
                });
        });

        show(el('h1', {}, 'Apps'),
             el('table', { id: 'apps' },
                el('thead', {}, el('tr', {}, el('th', {}, 'Name'),
                                   el('th', {}, 'Created'))), list),
             form);

        listAll('/v1/apps', 'apps').then(function (apps) {
            if (!apps.length) {
                add(list, el('tr', {}, el('td', { colspan: 2,
                                                  class: 'muted' },
                                              'No apps yet.')));
            }
            apps.forEach(function (a) {
                add(list, el('tr', {},
                    el('td', {}, link('#/apps/' + seg(a.name), a.name)),
                    el('td', {}, a.created_at || '')));
            });
        }, failed);
    }

    /* a new object's config: no nulls (nothing to remove) */
    function strip(o) {
        var out = Object.create(null);
        Object.keys(o).forEach(function (k) {
            if (o[k] !== null) {
                out[k] = o[k];
            }
        });
        return out;
    }

    function failed(e) {
        if (e && e.message !== 'signed out') {
            add(view, el('p', { class: 'error' }, String(e.message || e)));
        }
    }

    function appView(app) {
        var base = '/v1/apps/' + seg(app);

        api('GET', base).then(function (r) {
            var a, cfg, err, form, routes;

            if (r.status !== 200) {
                show(el('h1', {}, 'App ' + app),
                     el('p', { class: 'error' }, message(r)));
                return;
            }

            a = r.json.app;
            cfg = pairs('app-config', a.config || {}, false);
            err = el('p', { class: 'error' });
            form = el('form', { class: 'card', id: 'edit-app' },
                el('h2', {}, 'Config'), cfg,
                el('div', { class: 'field-error',
                            'data-error-for': 'config' }),
                el('div', { class: 'actions' },
                   el('button', { class: 'primary', type: 'submit' },
                      'Save'),
                   on(el('button', { class: 'danger', type: 'button',
                                     id: 'delete-app' }, 'Delete app'),
                      'click', function () {
                          if (!confirm('Delete the app ' + app + '?')) {
                              return;
                          }
                          api('DELETE', base).then(function (d) {
                              if (d.status === 200) {
                                  go('#/apps');
                              } else {
                                  err.textContent = message(d);
                              }
                          });
                      })),
                err);

            on(form, 'submit', function (ev) {
                ev.preventDefault();
                api('PATCH', base, { app: { config: cfg.get() } })
                    .then(function (p) {
                        if (p.status === 200) {
                            appView(app);
                        } else {
                            fieldErrors(form, p, err);
                        }
                    });
            });

            routes = el('tbody', {});

            show(el('h1', {}, 'App ', el('span', { id: 'app-name' },
                                         a.name)),
                 el('p', {}, link('#/apps/' + seg(app) + '/calls',
                                  'Recent calls')),
                 form,
                 el('h2', {}, 'Routes'),
                 el('table', { id: 'routes' },
                    el('thead', {}, el('tr', {},
                       el('th', {}, 'Path'), el('th', {}, 'Image'),
                       el('th', {}, 'Type'), el('th', {}, 'Format'))),
                    routes),
                 routeForm(app, null));

            listAll(base + '/routes', 'routes').then(function (list) {
                if (!list.length) {
                    add(routes, el('tr', {}, el('td', { colspan: 4,
                                                        class: 'muted' },
                                                    'No routes yet.')));
                }
                list.forEach(function (rt) {
                    add(routes, el('tr', {},
                        el('td', {}, link('#/apps/' + seg(app) + '/routes/'
                                          + seg(rt.path), rt.path)),
                        el('td', {}, rt.image),
                        el('td', {}, rt.type),
                        el('td', {}, rt.format)));
                });
            }, failed);
        }, failed);
    }

    /* ---------------------------------------------------------- routes */

    var ROUTE_NUMBERS = [['memory', 'Memory (MiB)'],
                         ['timeout', 'Timeout (s)'],
                         ['idle_timeout', 'Idle timeout (s)'],
                         ['max_concurrency', 'Max concurrency']];

    function select(name, options, value) {
        var s = el('select', { id: 'f-' + name });
        options.forEach(function (o) {
            add(s, el('option', { value: o, selected: o === value }, o));
        });
        return s;
    }

    /* the form of a new route (rt null) or of an existing one */
    function routeForm(app, rt) {
        var isNew = !rt;
        var v = rt || {};
        var inputs = {};
        var err = el('p', { class: 'error' });
        var headers = pairs('f-headers', v.headers || {}, true);
        var cfg = pairs('f-config', v.config || {}, false);
        var form, grid;

        inputs.path = el('input', { type: 'text', id: 'f-path',
                                    value: v.path || '',
                                    placeholder: '/hello',
                                    disabled: !isNew });
        inputs.image = el('input', { type: 'text', id: 'f-image',
                                     value: v.image || '',
                                     placeholder: 'registry/name:tag' });
        inputs.type = select('type', ['sync', 'async'], v.type || 'sync');
        inputs.format = select('format',
                               ['default', 'http', 'json', 'http-stream'],
                               v.format || 'default');
        ROUTE_NUMBERS.forEach(function (n) {
            inputs[n[0]] = el('input', { type: 'number', id: 'f-' + n[0],
                                         value: v[n[0]] === undefined
                                                ? '' : v[n[0]] });
        });
        inputs.jwt_key = el('input', { type: 'text', id: 'f-jwt_key',
                                       value: v.jwt_key || '',
                                       autocomplete: 'off' });

        grid = el('div', { class: 'grid' },
                  field('type', 'Type', inputs.type),
                  field('format', 'Format', inputs.format),
                  ROUTE_NUMBERS.map(function (n) {
                      return field(n[0], n[1], inputs[n[0]]);
                  }));

        form = el('form', { class: 'card',
                            id: isNew ? 'create-route' : 'edit-route' },
            el('h2', {}, isNew ? 'New route' : 'Settings'),
            field('path', 'Path', inputs.path),
            field('image', 'Image', inputs.image),
            grid,
            el('label', {}, 'Headers (added to answers)'), headers,
            el('div', { class: 'field-error', 'data-error-for': 'headers' }),
            el('label', {}, 'Config (environment of the function)'), cfg,
            el('div', { class: 'field-error', 'data-error-for': 'config' }),
            field('jwt_key', 'JWT key (empty: none)', inputs.jwt_key),
            el('div', { class: 'actions' },
               el('button', { class: 'primary', type: 'submit' },
                  isNew ? 'Create route' : 'Save')),
            err);

        on(form, 'submit', function (ev) {
            var body = {}, url;

            ev.preventDefault();
            if (isNew) {
                body.path = inputs.path.value;
            }
            body.image = inputs.image.value;
            body.type = inputs.type.value;
            body.format = inputs.format.value;
            ROUTE_NUMBERS.forEach(function (n) {
                var s = inputs[n[0]].value;
                /* a number, or what was typed: the API says what is wrong */
                if (s !== '') {
                    body[n[0]] = /^-?\d+$/.test(s) ? Number(s) : s;
                } else if (!isNew) {
                    body[n[0]] = null;
                }
            });
            body.headers = isNew ? strip(headers.get()) : headers.get();
            body.config = isNew ? strip(cfg.get()) : cfg.get();
            body.jwt_key = inputs.jwt_key.value;

            url = '/v1/apps/' + seg(app) + '/routes'
                  + (isNew ? '' : pathUrl(v.path));

            api(isNew ? 'POST' : 'PATCH', url, { route: body })
                .then(function (r) {
                    if (r.status === 200) {
                        go('#/apps/' + seg(app) + '/routes/'
                           + seg(r.json.route.path));
                    } else {
                        fieldErrors(form, r, err);
                    }
                });
        });

        return form;
    }

    function pathUrl(path) {
        return path.split('/').map(seg).join('/');
    }

    function routeView(app, path) {
        var url = '/v1/apps/' + seg(app) + '/routes' + pathUrl(path);

        api('GET', url).then(function (r) {
            var rt, err;

            if (r.status !== 200) {
                show(el('h1', {}, 'Route ' + path),
                     el('p', { class: 'error' }, message(r)));
                return;
            }

            rt = r.json.route;
            err = el('p', { class: 'error' });

            if (!rt || rt.app_name !== app) {
                show(el('h1', {}, 'Route ' + path),
                     el('p', { class: 'error' },
                        'The API answered with another route.'));
                return;
            }

            show(el('h1', {}, link('#/apps/' + seg(app), app), ' ',
                    el('span', { id: 'route-path' }, rt.path)),
                 el('p', { class: 'muted' },
                    'Created ' + rt.created_at + ', updated '
                    + rt.updated_at),
                 tryPanel(app, rt),
                 routeForm(app, rt),
                 el('div', { class: 'actions' },
                    on(el('button', { class: 'danger', type: 'button',
                                      id: 'delete-route' },
                          'Delete route'),
                       'click', function () {
                           if (!confirm('Delete the route ' + rt.path
                                        + '?'))
                           {
                               return;
                           }
                           api('DELETE', url).then(function (d) {
                               if (d.status === 200) {
                                   go('#/apps/' + seg(app));
                               } else {
                                   err.textContent = message(d);
                               }
                           });
                       }),
                    err));
        }, failed);
    }

    /* ---------------------------------------------------------- try it */

    function tryPanel(app, rt) {
        var body = el('textarea', { id: 'try-body' });
        var ctype = el('input', { type: 'text', id: 'try-type',
                                  value: 'text/plain' });
        var out = el('div', { id: 'try-result' });
        var panel = el('form', { class: 'card', id: 'try' },
            el('h2', {}, 'Try it'),
            el('label', { for: 'try-body' }, 'Body'), body,
            el('label', { for: 'try-type' }, 'Content-Type'), ctype,
            el('div', { class: 'actions' },
               el('button', { class: 'primary', type: 'submit' },
                  'Call ' + rt.type)),
            out);

        on(panel, 'submit', function (ev) {
            var started = Date.now();

            ev.preventDefault();
            clear(out);
            add(out, el('p', { class: 'muted' }, 'Calling...'));

            request('POST', '/v1/invoke/' + seg(app) + pathUrl(rt.path),
                    body.value, { 'Content-Type': ctype.value })
                .then(function (r) {
                    var hs = el('tbody', {});
                    var id = r.headers.get('Fn-Call-Id') || '';

                    /* the function's own headers arrive renamed
                     * Fn-Answer-<name> (docs/console.md) */
                    r.headers.forEach(function (value, name) {
                        var own = /^fn-answer-/.test(name);
                        add(hs, el('tr', { class: own ? 'function' : '' },
                                   el('td', {}, own ? name.slice(10) : name),
                                   el('td', {}, value),
                                   el('td', { class: 'muted' },
                                      own ? 'the function\'s' : '')));
                    });
                    clear(out);
                    add(out, [
                        el('p', {}, 'Status ',
                           el('strong', { id: 'try-status',
                                          class: 'status-' + r.status },
                              String(r.status)),
                           ' in ' + (Date.now() - started) + ' ms, call ',
                           el('code', { id: 'try-call-id' }, id)),
                        el('h3', {}, 'Headers'),
                        el('table', { id: 'try-headers' }, hs),
                        el('h3', {}, 'Body'),
                        el('pre', { id: 'try-output' }, r.text)
                    ]);
                    if (r.status === 202 && id) {
                        follow(app, id, out, (rt.timeout || 30) + 120);
                    }
                }, function (e) {
                    clear(out);
                    add(out, el('p', { class: 'error' },
                                'The call failed: ' + e.message));
                });
        });

        return panel;
    }

    /* an async call, polled until it ends (or the bound passes) */
    function follow(app, id, out, seconds) {
        var box = el('div', { id: 'follow' });
        var deadline = Date.now() + seconds * 1000;

        add(out, box);

        function poll() {
            api('GET', '/v1/apps/' + seg(app) + '/calls/' + seg(id))
                .then(function (r) {
                    var c = r.json && r.json.call;
                    clear(box);
                    if (r.status === 200 && c) {
                        add(box, callDetails(app, c));
                        if (/^(success|error|timeout)$/.test(c.status)) {
                            return;
                        }
                    } else if (r.status !== 404) {
                        add(box, el('p', { class: 'error' }, message(r)));
                    } else {
                        add(box, el('p', { class: 'muted' },
                                    'Waiting for the call record...'));
                    }
                    if (Date.now() < deadline) {
                        timers.push(setTimeout(poll, 700));
                    } else {
                        add(box, el('p', { class: 'error' },
                                    'Stopped following: still not '
                                    + 'finished.'));
                    }
                }, failed);
        }

        poll();
    }

    /* ----------------------------------------------------------- calls */

    function seconds(a, b) {
        var t0 = Date.parse(a), t1 = Date.parse(b);
        if (!a || !b || isNaN(t0) || isNaN(t1)) {
            return '';
        }
        return ((t1 - t0) / 1000).toFixed(3) + ' s';
    }

    function callDetails(app, c) {
        var log = el('div', {});
        var d = el('div', { class: 'call' },
            el('table', { class: 'call-fields' }, el('tbody', {},
                [['Call', c.id], ['Path', c.path],
                 ['Status', el('span', { class: 'status-' + c.status,
                                         id: 'call-status' }, c.status)],
                 ['Reason', c.reason || ''], ['Error', c.error || ''],
                 ['Attempt', String(c.attempt)],
                 ['Created', c.created_at || ''],
                 ['Started', c.started_at || ''],
                 ['Completed', c.completed_at || ''],
                 ['Waited', seconds(c.created_at, c.started_at)],
                 ['Ran', seconds(c.started_at, c.completed_at)]
                ].map(function (f) {
                    return el('tr', {}, el('th', {}, f[0]),
                              el('td', {}, f[1]));
                }))),
            log);

        if (/^(success|error|timeout)$/.test(c.status)) {
            api('GET', '/v1/apps/' + seg(app) + '/calls/' + seg(c.id)
                       + '/log')
                .then(function (r) {
                    add(log, el('h3', {}, 'Log (stderr)'));
                    if (r.status === 200 && r.json && r.json.log) {
                        add(log, el('pre', { class: 'call-log' },
                                    r.json.log.log));
                    } else {
                        add(log, el('p', { class: 'muted' },
                                    r.status === 404 ? 'No log: nothing '
                                    + 'was written on stderr.'
                                    : message(r)));
                    }
                }, failed);
        }
        return d;
    }

    function callsView(app) {
        var body = el('tbody', {});
        var status = select('status', ['', 'queued', 'running', 'success',
                                       'error', 'timeout'], '');
        var more = el('button', { type: 'button', id: 'more-calls',
                                  hidden: true }, 'Older calls');
        var cursor = null;

        function load(reset) {
            var u = '/v1/apps/' + seg(app) + '/calls?per_page=30'
                    + (status.value ? '&status=' + seg(status.value) : '')
                    + (cursor && !reset ? '&cursor=' + seg(cursor) : '');
            if (reset) {
                clear(body);
                cursor = null;
            }
            api('GET', u).then(function (r) {
                if (r.status !== 200) {
                    add(body, el('tr', {}, el('td', { colspan: 6,
                                                      class: 'error' },
                                                  message(r))));
                    return;
                }
                r.json.calls.forEach(function (c) {
                    add(body, el('tr', {},
                        el('td', {}, link('#/apps/' + seg(app) + '/calls/'
                                          + seg(c.id), c.id)),
                        el('td', {}, c.path),
                        el('td', { class: 'status-' + c.status }, c.status),
                        el('td', {}, c.created_at || ''),
                        el('td', {}, seconds(c.created_at, c.started_at)),
                        el('td', {}, seconds(c.started_at,
                                             c.completed_at))));
                });
                if (!r.json.calls.length && reset) {
                    add(body, el('tr', {}, el('td', { colspan: 6,
                                                      class: 'muted' },
                        'No calls. Sync calls are not recorded; async '
                        + 'calls are.')));
                }
                cursor = r.json.next_cursor || null;
                more.hidden = !cursor;
            }, failed);
        }

        on(status, 'change', function () { load(true); });
        on(more, 'click', function () { load(false); });

        show(el('h1', {}, link('#/apps/' + seg(app), app), ': calls'),
             el('p', {}, el('label', { for: 'f-status' }, 'Status'),
                status),
             el('table', { id: 'calls' },
                el('thead', {}, el('tr', {},
                   ['Call', 'Path', 'Status', 'Created', 'Waited', 'Ran']
                       .map(function (h) { return el('th', {}, h); }))),
                body),
             more);
        load(true);
    }

    function callView(app, id) {
        api('GET', '/v1/apps/' + seg(app) + '/calls/' + seg(id))
            .then(function (r) {
                show(el('h1', {}, link('#/apps/' + seg(app) + '/calls',
                                       app + ': calls'), ' / ', id),
                     r.status === 200
                         ? callDetails(app, r.json.call)
                         : el('p', { class: 'error' }, message(r)));
            }, failed);
    }

    /* ------------------------------------------------------------ live */

    /*
     * The Prometheus text format, as far as the live view needs it:
     * samples of name{labels} value.  Comments and bad lines are skipped.
     */
    function parseMetrics(text) {
        var out = [];
        text.split('\n').forEach(function (line) {
            var m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)/
                    .exec(line);
            var labels = {}, re = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
            var l;
            if (!m) {
                return;
            }
            while ((l = re.exec(m[3] || '')) !== null) {
                labels[l[1]] = l[2].replace(/\\(.)/g, function (s, c) {
                    return c === 'n' ? '\n' : c;
                });
            }
            out.push({ name: m[1], labels: labels, value: Number(m[4]) });
        });
        return out;
    }

    function sum(samples, name, match) {
        return samples.reduce(function (acc, s) {
            var k;
            if (s.name !== name || isNaN(s.value)) {
                return acc;
            }
            for (k in match || {}) {
                if (s.labels[k] !== match[k]) {
                    return acc;
                }
            }
            return acc + s.value;
        }, 0);
    }

    /* a small line chart: the last 60 points, scaled to their maximum */
    function chart(id, title, unit) {
        var points = [];
        var value = el('div', { class: 'value', id: id + '-value' }, '-');
        var line = el('svg:polyline', { points: '' });
        var svg = el('svg:svg', { viewBox: '0 0 120 40',
                                  preserveAspectRatio: 'none' },
                     el('svg:line', { x1: 0, y1: 39.5, x2: 120, y2: 39.5 }),
                     line);
        var box = el('div', { class: 'chart', id: id },
                     el('div', { class: 'muted' }, title), value, svg);

        box.push = function (v) {
            var max, step;
            points.push(v);
            if (points.length > 60) {
                points.shift();
            }
            max = Math.max.apply(null, points.concat([1e-9]));
            step = 120 / Math.max(points.length - 1, 1);
            line.setAttribute('points', points.map(function (p, i) {
                return (i * step).toFixed(1) + ','
                       + (39 - 37 * p / max).toFixed(2);
            }).join(' '));
            value.textContent = (v >= 100 || v === 0
                                 ? String(Math.round(v))
                                 : String(Number(v.toPrecision(3))))
                                + (unit ? ' ' + unit : '');
        };
        return box;
    }

    function liveView() {
        var charts = {
            rate: chart('chart-rate', 'Calls per second', '/s'),
            wait: chart('chart-wait', 'Mean wait before a call ran',
                        'ms'),
            busy: chart('chart-busy', '503 (busy) per second', '/s'),
            hot: chart('chart-hot', 'Hot instances (idle + busy)', '')
        };
        var errors = el('div', { id: 'live-errors' });
        var last = null;

        function tick() {
            Promise.all(config.metrics.map(function (u) {
                return request('GET', u).then(function (r) {
                    if (r.status !== 200) {
                        throw new Error(u + ': ' + message(r));
                    }
                    return parseMetrics(r.text);
                });
            })).then(function (all) {
                var s = [].concat.apply([], all);
                var now = {
                    t: Date.now(),
                    requests: sum(s, 'functions_requests_total'),
                    busy: sum(s, 'functions_requests_total',
                              { outcome: 'busy' }),
                    waitSum: sum(s, 'functions_call_wait_seconds_sum'),
                    waitCount: sum(s, 'functions_call_wait_seconds_count'),
                    hot: sum(s, 'functions_hot_instances')
                };
                var dt, dc;

                clear(errors);
                if (last) {
                    dt = (now.t - last.t) / 1000;
                    dc = now.waitCount - last.waitCount;
                    charts.rate.push(Math.max(0, now.requests
                                              - last.requests) / dt);
                    charts.busy.push(Math.max(0, now.busy - last.busy) / dt);
                    charts.wait.push(dc > 0 ? 1000 * (now.waitSum
                                                      - last.waitSum) / dc
                                            : 0);
                }
                charts.hot.push(now.hot);
                last = now;
            }, function (e) {
                clear(errors);
                add(errors, el('p', { class: 'error' },
                               'Metrics: ' + e.message));
            });
        }

        show(el('h1', {}, 'Live'),
             el('p', { class: 'muted' },
                'From ' + config.metrics.join(', ') + ', every '
                + config.refresh_seconds + ' s.'),
             el('div', { class: 'charts' }, charts.rate, charts.wait,
                charts.busy, charts.hot),
             errors);

        tick();
        timers.push(setInterval(tick, config.refresh_seconds * 1000));
    }

    /* ---------------------------------------------------------- router */

    function route() {
        var h = location.hash.replace(/^#/, '');
        var p = h.split('/').slice(1).map(function (s) {
            try {
                return decodeURIComponent(s);
            } catch (e) {
                return s;
            }
        });

        timers.forEach(function (t) { clearTimeout(t); clearInterval(t); });
        timers = [];

        if (!token()) {
            login('');
            return;
        }

        header();

        /* nothing from the address reaches a URL unless the API's rules
         * allow it: a link cannot steer the console's requests */
        if (p[0] === 'live' && p.length === 1) {
            liveView();
        } else if (p[0] === 'apps' && p.length === 1) {
            appsView();
        } else if (p[0] !== 'apps' || !validApp(p[1])) {
            notFound(h);
        } else if (p.length === 2) {
            appView(p[1]);
        } else if (p[2] === 'routes' && p.length === 4 && validPath(p[3])) {
            routeView(p[1], p[3]);
        } else if (p[2] === 'calls' && p.length === 3) {
            callsView(p[1]);
        } else if (p[2] === 'calls' && p.length === 4
                   && validCallId(p[3]))
        {
            callView(p[1], p[3]);
        } else {
            notFound(h);
        }
    }

    function notFound(h) {
        show(el('h1', {}, 'Not found'),
             el('p', {}, 'There is no view at ', el('code', {}, h), '. ',
                link('#/apps', 'Apps')));
    }

    on(document.getElementById('signout'), 'click', function () {
        signOut('Signed out.');
    });
    window.addEventListener('hashchange', route);

    fetch('config.json', { cache: 'no-store' }).then(function (r) {
        return r.ok ? r.json() : null;
    }).then(function (c) {
        if (c && Array.isArray(c.metrics)) {
            config.metrics = c.metrics.filter(function (u) {
                return typeof u === 'string' && /^\/[^\/\\]/.test(u)
                       && sameOrigin(u);
            });
        }
        if (c && c.refresh_seconds >= 1) {
            config.refresh_seconds = Number(c.refresh_seconds);
        }
    }, function () { /* the defaults */ }).then(route);

}());
