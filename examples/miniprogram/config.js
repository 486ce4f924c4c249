// Where the business's own back end lives. It holds the gateway's API key and knows the user's openid from its
// login session; the mini program never talks to the gateway or to WeChat's server APIs itself.
'use strict';

module.exports = {
  backendUrl: 'https://api.example.com',
  verifyPath: '/realname/verify',
};
