// Drives Debian's chromium through the web console, as a user would, and
// prints TAP lines ("ok - ...", "not ok - ... # why") for
// t/28-console-browser.t to relay.  Environment: CONSOLE_URL, TOKEN,
// SHOTS (where screenshots go), CHROMIUM (default /usr/bin/chromium).
'use strict';

const puppeteer = require('puppeteer-core');
const fs = require('fs');
const path = require('path');

const base = process.env.CONSOLE_URL.replace(/\/$/, '');
const token = process.env.TOKEN;
const shots = process.env.SHOTS;
const T = 20000;

let failures = 0;
function ok(cond, name, why) {
    if (cond) {
        console.log(`ok - ${name}`);
    } else {
        failures++;
        console.log(`not ok - ${name}` + (why ? ` # ${String(why)
            .replace(/\s+/g, ' ').slice(0, 400)}` : ''));
    }
    return cond;
}

// the API, straight (setup and checks the UI's results)
async function api(method, url, body) {
    const r = await fetch(base + url, {
        method,
        headers: { Authorization: `Bearer ${token}`,
                   'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
    return { status: r.status, json, text };
}

const XSS_SCRIPT = '<script>window.__xss=1</script>';
const XSS_IMG = '"><img src=x onerror="window.__xss=2">';
// a route path may hold neither spaces nor quotes' friends '?#%\'
const XSS_PATH = '/x<script>window.__xss=3</script>"><img/src=x/onerror=window.__xss=4>';

async function main() {
    const args = ['--headless=new', '--disable-gpu',
                  '--no-first-run', '--no-default-browser-check',
                  '--disable-dev-shm-usage', '--window-size=1280,900'];
    // as root, chromium's own sandbox cannot start: the pages are ours,
    // on loopback, and the hostile strings are only ever shown as text
    if (process.getuid && process.getuid() === 0) {
        args.push('--no-sandbox');
    }
    const browser = await puppeteer.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true, args,
        userDataDir: fs.mkdtempSync(path.join(shots, 'profile-')),
    });
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });

    const dialogs = [];
    const consoleErrors = [];
    page.on('dialog', async (d) => {
        dialogs.push(`${d.type()}: ${d.message()}`);
        if (d.type() === 'confirm') {
            await d.accept();
        } else {
            await d.dismiss();
        }
    });
    // a refused request is logged as an error too (the wrong token's 401,
    // the field error's 400): those are the console's normal business
    page.on('console', (m) => {
        if (m.type() === 'error'
            && !/^Failed to load resource: the server responded/
                .test(m.text()))
        {
            consoleErrors.push(m.text());
        }
    });
    // what the Content-Security-Policy refused: nothing, if all is text
    await page.evaluateOnNewDocument(() => {
        window.__csp = [];
        document.addEventListener('securitypolicyviolation', (e) => {
            window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
        });
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));

    const text = (sel) => page.$eval(sel, (e) => e.textContent);
    const shot = (name) => page.screenshot({
        path: path.join(shots, `${name}.png`), fullPage: true });
    async function waitText(sel, re) {
        await page.waitForFunction((s, src, flags) => {
            const e = document.querySelector(s);
            return e && new RegExp(src, flags).test(e.textContent);
        }, { timeout: T }, sel, re.source, re.flags);
    }
    async function step(name, fn) {
        try {
            await fn();
        } catch (e) {
            ok(false, name, e && e.message);
            await shot(`failed-${name.replace(/[^a-z0-9]+/gi, '-')}`)
                .catch(() => {});
        }
    }
    // the route form saved: the view is drawn again (a new form)
    async function save() {
        await page.$eval('#edit-route', (e) => { e.dataset.old = '1'; });
        await page.click('#edit-route button[type=submit]');
        await page.waitForSelector('#edit-route:not([data-old])',
                                   { timeout: T });
    }
    async function fill(sel, value) {
        await page.$eval(sel, (e) => { e.value = ''; });
        await page.type(sel, value);
    }

    // ------------------------------------------------------- sign in

    await step('a wrong token is refused with a clear message', async () => {
        await page.goto(`${base}/`, { waitUntil: 'load' });
        await page.waitForSelector('#token', { timeout: T });
        await page.type('#token', 'not-a-token');
        await page.click('#login button[type=submit]');
        await waitText('#login-error', /refused/);
        const msg = await text('#login-error');
        ok(/The server refused this token: invalid token/.test(msg),
           'a wrong token is refused with a clear message', msg);
        ok(await page.evaluate(() =>
               sessionStorage.getItem('functions.token') === null),
           'and is not kept');
    });

    await step('sign in', async () => {
        await fill('#token', token);
        await page.click('#login button[type=submit]');
        await page.waitForSelector('#apps', { timeout: T });
        ok(await page.evaluate(() => location.hash === '#/apps'),
           'a good token opens the apps');
        const where = await page.evaluate(() => ({
            session: sessionStorage.getItem('functions.token'),
            local: localStorage.length, cookie: document.cookie,
            url: location.href,
        }));
        ok(where.session === token && where.local === 0
           && where.cookie === '' && where.url.indexOf(token) < 0,
           'the token is in sessionStorage alone (no cookie, URL or '
           + 'localStorage)', JSON.stringify({ ...where, session: '..' }));
    });

    // ------------------------------------- an app and a route, by hand

    await step('create an app', async () => {
        await page.type('#new-app', 'demo');
        await page.click('#new-app-config button');
        await page.type('#new-app-config [data-role=name]', 'GREETING');
        await page.type('#new-app-config [data-role=value]', 'hello');
        await page.click('#create-app button[type=submit]');
        await waitText('#app-name', /^demo$/);
        const a = await api('GET', '/v1/apps/demo');
        ok(a.status === 200 && a.json.app.config.GREETING === 'hello',
           'an app created in the console is in the API, with its config',
           a.text);
    });

    await step('create a route', async () => {
        await page.type('#f-path', '/hello');
        await page.type('#f-image', 'oci:echo:v1');
        await page.click('#create-route button[type=submit]');
        await waitText('#route-path', /^\/hello$/);
        const r = await api('GET', '/v1/apps/demo/routes/hello');
        ok(r.status === 200 && r.json.route.image === 'oci:echo:v1',
           'a route created in the console is in the API', r.text);
    });

    await step('call it', async () => {
        await page.type('#try-body', 'Alice');
        await page.click('#try button[type=submit]');
        await waitText('#try-status', /^\d+$/);
        const status = await text('#try-status');
        const out = await text('#try-output');
        const id = await text('#try-call-id');
        ok(status === '200' && /^body=Alice$/m.test(out),
           'the call answers 200 with the function\'s output',
           `${status} ${out}`);
        ok(/^[0-9A-HJKMNP-TV-Z]{26}$/.test(id), 'and shows its call id', id);
        const headers = await text('#try-headers');
        ok(headers.indexOf(id) >= 0 && /fn-call-id/i.test(headers),
           'and its headers');
        await shot('route-called');
    });

    await step('an error shown next to its field', async () => {
        await fill('#f-memory', '0');
        await page.click('#edit-route button[type=submit]');
        await waitText('[data-error-for=memory]', /memory/);
        const msg = await text('[data-error-for=memory]');
        ok(/route field "memory" must be from 1 to 8192/.test(msg),
           'the API\'s message for "memory" is shown beside it', msg);
        await shot('route-field-error');
    });

    await step('edit every field', async () => {
        await fill('#f-memory', '64');
        await fill('#f-timeout', '20');
        await fill('#f-idle_timeout', '15');
        await fill('#f-max_concurrency', '2');
        await page.select('#f-format', 'http');
        await page.click('#f-headers > button');
        await page.type('#f-headers [data-role=name]', 'X-Console');
        await page.type('#f-headers [data-role=value]', 'yes');
        await page.click('#f-config > button');
        await page.type('#f-config [data-role=name]', 'MODE');
        await page.type('#f-config [data-role=value]', 'edited');
        await fill('#f-jwt_key', '');
        await save();
        const r = (await api('GET', '/v1/apps/demo/routes/hello')).json;
        const rt = r && r.route;
        ok(rt && rt.memory === 64 && rt.timeout === 20
           && rt.idle_timeout === 15 && rt.max_concurrency === 2
           && rt.format === 'http' && rt.headers['X-Console'][0] === 'yes'
           && rt.config.MODE === 'edited',
           'every field edited in the console is stored',
           JSON.stringify(rt));

        // remove the config key again: a PATCH with null
        await page.click('#f-config .row button');
        await save();
        const r2 = (await api('GET', '/v1/apps/demo/routes/hello')).json;
        ok(r2 && !('MODE' in r2.route.config),
           'a config key removed in the console is removed',
           JSON.stringify(r2));
    });

    // --------------------------------- an async call, its record, its log

    await step('an async route, followed to its end', async () => {
        const c = await api('POST', '/v1/apps/demo/routes',
            { route: { path: '/later', image: 'oci:echo:v1',
                       type: 'async' } });
        ok(c.status === 200, 'an async route (made through the API)',
           c.text);
        await page.goto(`${base}/#/apps/demo/routes/${
            encodeURIComponent('/later')}`);
        await page.waitForSelector('#try-body', { timeout: T });
        await page.type('#try-body', 'Bob');
        await page.click('#try button[type=submit]');
        await waitText('#try-status', /^\d+$/);
        ok(await text('#try-status') === '202', 'accepted: 202');
        const id = await text('#try-call-id');
        await waitText('#call-status', /^success$/);
        await page.waitForSelector('#follow .call-log', { timeout: T });
        const log = await text('#follow .call-log');
        ok(log.indexOf(`stderr of ${id}`) >= 0,
           'the call is followed to success, and its log shown', log);
        await shot('async-followed');

        await page.goto(`${base}/#/apps/demo/calls`);
        await page.waitForSelector(`#calls a[href$="${id}"]`,
                                   { timeout: T });
        ok(true, 'the calls of the app list it');
        await shot('calls');
        await page.click(`#calls a[href$="${id}"]`);
        await page.waitForSelector('.call-log', { timeout: T });
        ok((await text('.call-log')).indexOf(`stderr of ${id}`) >= 0,
           'and one call shows its log');
    });

    // -------------------------------------------------------- live view

    await step('the live view', async () => {
        const c = await api('POST', '/v1/apps/demo/routes',
            { route: { path: '/live', image: 'oci:hot:v1', format: 'http',
                       max_concurrency: 2 } });
        ok(c.status === 200, 'a hot route for traffic', c.text);
        // calls, four at a time, while the view draws
        let load = true;
        const traffic = (async () => {
            while (load) {
                await Promise.all([1, 2, 3, 4].map(() =>
                    api('POST', '/v1/invoke/demo/live', 'x')));
            }
        })();
        try {
            await page.goto(`${base}/#/live`);
            await page.waitForFunction(() => {
                const ids = ['chart-rate', 'chart-wait', 'chart-busy',
                             'chart-hot'];
                const drawn = ids.every((id) => {
                    const v = document.querySelector(`#${id}-value`);
                    const l = document.querySelector(`#${id} polyline`);
                    return v && v.textContent !== '-' && l
                        && l.getAttribute('points').split(' ').length >= 6;
                });
                // calls per second and hot instances rose above zero
                const up = (id) => document.querySelector(`#${id} polyline`)
                    .getAttribute('points').split(' ')
                    .some((p) => Number(p.split(',')[1]) < 39);
                return drawn && up('chart-rate') && up('chart-hot');
            }, { timeout: 40000 });
        } finally {
            load = false;
            await traffic;
        }
        const errors = await text('#live-errors');
        ok(errors === '', 'four charts drawn from both metrics sources, '
           + 'calls per second and hot instances above zero', errors);
        await shot('live');
    });

    // --------------------------------------------- hostile strings, as text

    await step('hostile names, config and output are shown as text',
               async () => {
        const a = await api('PATCH', '/v1/apps/demo', { app: { config: {
            NOTE: XSS_SCRIPT, IMG: XSS_IMG } } });
        const r = await api('POST', '/v1/apps/demo/routes', { route: {
            path: XSS_PATH, image: 'oci:echo:v1',
            config: { EVIL: XSS_SCRIPT + XSS_IMG },
            headers: { 'X-Evil': [XSS_IMG] } } });
        ok(a.status === 200 && r.status === 200,
           'an app config and a route with hostile strings', r.text);

        await page.goto(`${base}/#/apps/demo`);
        await page.waitForSelector(`#routes a`, { timeout: T });
        await page.waitForFunction((p) => [...document.querySelectorAll(
            '#routes a')].some((e) => e.textContent === p),
            { timeout: T }, XSS_PATH);
        const values = await page.$$eval('#app-config [data-role=value]',
                                         (es) => es.map((e) => e.value));
        ok(values.includes(XSS_SCRIPT) && values.includes(XSS_IMG),
           'the app config shows them as they are');
        await shot('hostile-app');

        await page.goto(`${base}/#/apps/demo/routes/${
            encodeURIComponent(XSS_PATH)}`);
        await waitText('#route-path', /^\/x<script>/);
        ok(await text('#route-path') === XSS_PATH,
           'the route path is shown as text');
        await page.type('#try-body', XSS_SCRIPT + XSS_IMG);
        await page.click('#try button[type=submit]');
        await waitText('#try-status', /^\d+$/);
        const out = await text('#try-output');
        ok(out.indexOf(XSS_SCRIPT + XSS_IMG) >= 0,
           'the function\'s output is shown as text', out);
        ok((await text('#try-headers')).indexOf(XSS_IMG) >= 0,
           'and so are its headers');
        await shot('hostile-route');

        const dom = await page.evaluate(() => ({
            xss: window.__xss, csp: window.__csp,
            scripts: document.querySelectorAll('main script').length,
            imgs: document.querySelectorAll('img').length,
        }));
        ok(dom.xss === undefined, 'no injected script ran',
           JSON.stringify(dom));
        ok(Array.isArray(dom.csp) && dom.csp.length === 0,
           'and none was even tried (no policy violation)',
           JSON.stringify(dom.csp));
        ok(dom.scripts === 0 && dom.imgs === 0,
           'no element was made from them', JSON.stringify(dom));
        ok(!dialogs.some((d) => /^alert|^prompt/.test(d)),
           'no dialog opened but the console\'s own', dialogs.join('; '));
    });

    // ------------------------------------------ the address steers nothing

    await step('a link cannot steer the console', async () => {
        const before = (await api('GET', '/v1/apps/demo/calls?per_page=100'))
            .json.calls.length;
        for (const h of ['#/apps/..%2Finvoke%2Fdemo%2Flater',
                         '#/apps/demo/routes/%2F..%2F..%2Fother%2Froutes%2Fx',
                         '#/apps/demo/calls/..%2F..%2F..%2Finvoke%2Fdemo',
                         '#/apps/demo%3F/x']) {
            await page.goto(`${base}/${h}`);
            await waitText('main h1', /^Not found$/);
        }
        ok(true, 'addresses outside the API\'s rules show "Not found"');
        const after = (await api('GET', '/v1/apps/demo/calls?per_page=100'))
            .json.calls.length;
        ok(after === before, 'and call nothing', `${before} -> ${after}`);
        ok(await page.evaluate(() =>
               sessionStorage.getItem('functions.token') !== null),
           'and sign no one out');
    });

    await step('a header named __proto__', async () => {
        // (a literal's __proto__ would be its prototype, not a key)
        const r = await api('POST', '/v1/apps/demo/routes', JSON.parse(
            '{"route":{"path":"/proto","image":"oci:echo:v1",'
            + '"headers":{"__proto__":["x"]},"config":{"__proto__":"y"}}}'));
        await page.goto(`${base}/#/apps/demo/routes/${
            encodeURIComponent('/proto')}`);
        await page.waitForSelector('#edit-route', { timeout: T });
        await fill('#f-memory', '96');
        await save();
        const rt = (await api('GET', '/v1/apps/demo/routes/proto')).json;
        ok(r.status === 200 && rt && rt.route.memory === 96,
           'a route whose header and config are named __proto__ is saved',
           JSON.stringify(rt));
        await api('DELETE', '/v1/apps/demo/routes/proto');
    });

    // ----------------------------------------------------- delete it all

    await step('delete a route and an app', async () => {
        await page.goto(`${base}/#/apps/demo/routes/${
            encodeURIComponent('/hello')}`);
        await page.waitForSelector('#delete-route', { timeout: T });
        await page.click('#delete-route');
        await page.waitForSelector('#routes', { timeout: T });
        const gone = await api('GET', '/v1/apps/demo/routes/hello');
        ok(gone.status === 404, 'the route deleted in the console is gone',
           gone.text);
        for (const p of ['/later', '/live', XSS_PATH]) {
            await api('DELETE', '/v1/apps/demo/routes'
                      + p.split('/').map(encodeURIComponent).join('/'));
        }
        await page.goto(`${base}/#/apps/demo`);
        await page.waitForSelector('#delete-app', { timeout: T });
        await page.click('#delete-app');
        await page.waitForSelector('#apps', { timeout: T });
        ok((await api('GET', '/v1/apps/demo')).status === 404,
           'and so is the app');
    });

    await step('sign out', async () => {
        await page.click('#signout');
        await page.waitForSelector('#token', { timeout: T });
        ok(await page.evaluate(() =>
               sessionStorage.getItem('functions.token') === null),
           'signing out forgets the token');
    });

    ok(consoleErrors.length === 0,
       'no script error in the page', consoleErrors.join('; '));
    await browser.close();
}

main().then(() => process.exit(failures ? 1 : 0), (e) => {
    ok(false, 'the browser session', e && e.stack);
    process.exit(1);
});
