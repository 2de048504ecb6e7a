// A test function for the http-stream format, written with Fn's Node FDK
// (@fnproject/fdk, as package.json pins it).  The client's headers, which
// reach it through the gateway as Fn-Http-H-*, choose what it does:
//
//   X-Mode: (none)  echo: the answer's body is the request's
//           status  status X-Status (Fn-Http-Status) and header
//                   X-Fdk-Test: yes; the body echoed
//           throw   the handler throws: the FDK answers 502 with JSON
//           exit    the process exits (code 3) in the middle of the call
//           slow    the echo after X-Sleep milliseconds
//
// Every answer it makes itself has the headers X-Pid (its process: in a
// sandbox's own pid namespace, likely the same in every sandbox), X-Instance
// (random, one per process), X-Call-Id (Fn-Call-Id), X-Deadline (Fn-Deadline
// as an ISO 8601 string, empty if none or not a date), X-Config (the
// configuration's GREETING) and X-Seen (the calls this process has taken,
// this one included), and the type text/plain.  (The FDK answers the
// gateway's status with Fn-Http-Status, and its headers as Fn-Http-H-*.)

'use strict'

const crypto = require('crypto')
const fdk = require('@fnproject/fdk')

const instance = crypto.randomBytes(8).toString('hex')
let seen = 0

function sleep (ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

fdk.handle(async (input, ctx) => {
  seen++
  const gw = ctx.httpGateway
  const deadline = ctx.deadline

  ctx.responseContentType = 'text/plain'
  gw.setResponseHeader('X-Pid', String(process.pid))
  gw.setResponseHeader('X-Instance', instance)
  gw.setResponseHeader('X-Call-Id', ctx.callID || '')
  gw.setResponseHeader('X-Deadline',
    deadline && !isNaN(deadline) ? deadline.toISOString() : '')
  gw.setResponseHeader('X-Config', ctx.config.GREETING || '')
  gw.setResponseHeader('X-Seen', String(seen))

  switch (gw.getHeader('X-Mode') || '') {
    case '':
      break
    case 'status':
      gw.statusCode = String(parseInt(gw.getHeader('X-Status') || '200', 10))
      gw.setResponseHeader('X-Fdk-Test', 'yes')
      break
    case 'throw':
      throw new Error('boom')
    case 'exit':
      process.exit(3)
      break
    case 'slow':
      await sleep(parseInt(gw.getHeader('X-Sleep') || '0', 10))
      break
    default:
      throw new Error('unknown X-Mode')
  }
  // a string, never null or undefined: on those the FDK (0.0.76) throws
  // before it sends anything, and the process dies
  return input
}, { inputMode: 'string' })
